"""Held-out language-model loss: what a small model gains in Arabic and keeps in English.

At this scale benchmark accuracies are noise; the mean token loss on text no stage trained on
moves with every change. Each text is scored after one context token (the tokenizer's BOS, else
its EOS), so every token of the text is predicted and bits per character cover the whole text:
tokens differ between tokenizers (vocabulary expansion), characters do not.
"""

from __future__ import annotations

import math


def context_token(tokenizer) -> int:
    tid = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if tid is None:
        raise ValueError("the tokenizer has neither a BOS nor an EOS token to start a text from")
    return int(tid)


def heldout_loss(model, tokenizer, texts: list[str], batch_size: int, max_length: int) -> dict[str, float]:
    """Token-weighted mean loss (nats), perplexity and bits per character over `texts`."""
    import torch

    if not texts:
        raise ValueError("no held-out texts to score")
    start = context_token(tokenizer)
    seqs = [[start] + tokenizer(t, add_special_tokens=False)["input_ids"][: max_length - 1] for t in texts]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths share a batch
    nll, tokens = 0.0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            batch = [seqs[j] for j in order[i:i + batch_size]]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), start, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, s in enumerate(batch):
                ids[r, :len(s)] = torch.tensor(s)
                mask[r, :len(s)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target, keep = ids[:, 1:], mask[:, 1:].bool()
            losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            nll += float(losses[keep].sum())
            tokens += int(keep.sum())
    chars = sum(len(t) for t in texts)
    loss = nll / tokens
    return {"loss": loss, "ppl": math.exp(min(loss, 50.0)), "bpc": nll / math.log(2) / chars,
            "tokens": float(tokens), "texts": float(len(texts))}
