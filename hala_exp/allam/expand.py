"""Vocabulary expansion: add an Arabic tokenizer's tokens to a base tokenizer and grow the model.

The Arabic tokenizer is trained with the base tokenizer's own pipeline (`train_new_from_iterator`:
same normaliser, pre-tokenizer and BPE model), so its tokens and merges can be appended to the
base BPE: the base merges keep priority, English tokenizes exactly as before, and Arabic words get
the longer pieces. Only tokens whose text holds Arabic script are added, so English and code
tokenize exactly as before. Each new token's embedding row (and lm_head row, when untied) starts either at
the mean of the rows of the base pieces of the token's text (ALLaM: far faster to learn) or at
random, so the two can be compared.
"""

from __future__ import annotations

import json
from pathlib import Path

from hala_exp.arabic_text import has_arabic


def train_like(base_tokenizer, texts: list[str], vocab_size: int):
    """A tokenizer of the base's kind trained on `texts` (the `tokenizers` library underneath)."""
    if not getattr(base_tokenizer, "is_fast", False):
        raise ValueError("vocabulary expansion needs a fast (tokenizers-backed) base tokenizer")
    return base_tokenizer.train_new_from_iterator(texts, vocab_size=vocab_size)


def _merge_pair(m) -> tuple[str, str]:
    return tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1])


def merge_bpe(base_json: dict, new_json: dict, keep) -> tuple[dict, list[str]]:
    """Base tokenizer JSON with the new tokenizer's unseen tokens that `keep` accepts, and their merges.

    Only merges that build a kept new token are appended (after the base merges, so they never
    change how text the base already covers is split), and only tokens those merges can reach
    are added. Returns the merged JSON and the new tokens (model-vocabulary strings) in id order.
    """
    bm, nm = base_json["model"], new_json["model"]
    if bm.get("type") != "BPE" or nm.get("type") != "BPE":
        raise ValueError(f"vocabulary expansion merges BPE models; the base is {bm.get('type')!r}")
    vocab = dict(bm["vocab"])
    specials = {t["content"] for t in new_json.get("added_tokens", [])}
    wanted = {t for t in nm["vocab"] if t not in vocab and t not in specials and keep(t)}
    next_id = max([*vocab.values(), *(t["id"] for t in base_json.get("added_tokens", []))]) + 1
    added: list[str] = []
    new_merges = [_merge_pair(m) for m in nm["merges"]]
    built = {a + b for a, b in new_merges}
    for token in sorted(wanted - built, key=nm["vocab"].get):  # the new alphabet: no merge builds them
        vocab[token] = next_id
        added.append(token)
        next_id += 1
    merges = list(bm["merges"])
    as_str = bool(merges) and isinstance(merges[0], str)
    for a, b in new_merges:
        if a + b in wanted and a + b not in vocab and a in vocab and b in vocab:
            vocab[a + b] = next_id
            added.append(a + b)
            next_id += 1
            merges.append(f"{a} {b}" if as_str else [a, b])
    out = json.loads(json.dumps(base_json))
    out["model"]["vocab"] = vocab
    out["model"]["merges"] = merges
    return out, added


def piece_ids(base_tokenizer, text: str) -> list[int]:
    """The base tokenizer's ids for `text`: the pieces a new token's row is averaged from."""
    return base_tokenizer(text, add_special_tokens=False)["input_ids"]


def init_rows(weight, new_ids: list[int], pieces: list[list[int]], init: str, generator) -> None:
    """Fill rows `new_ids` of `weight` (in place): mean of the piece rows, or N(0, std of old rows)."""
    import torch

    old = weight[: min(new_ids)] if new_ids else weight
    std = float(old.detach().float().std())
    with torch.no_grad():
        for i, ps in zip(new_ids, pieces):
            if init == "mean" and ps:
                weight[i] = weight[ps].float().mean(0).to(weight.dtype)
            else:
                weight[i] = (torch.randn(weight.shape[1], generator=generator) * std).to(weight.dtype)


def expand(model_path: str, texts: list[str], out: Path, vocab_size: int, init: str, seed: int) -> dict:
    """Train, merge, resize, initialise and save an expanded model + tokenizer to `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala_exp.models.loading import load_tokenizer

    if init not in ("mean", "random"):
        raise ValueError(f"allam.expand.init = {init!r}: use mean or random")
    base = load_tokenizer(model_path)
    arabic = train_like(base, texts, vocab_size)
    merged, added = merge_bpe(json.loads(base.backend_tokenizer.to_str()),
                              json.loads(arabic.backend_tokenizer.to_str()),
                              keep=lambda t: has_arabic(arabic.convert_tokens_to_string([t])))
    out.mkdir(parents=True, exist_ok=True)
    base.save_pretrained(out)
    (out / "tokenizer.json").write_text(json.dumps(merged, ensure_ascii=False), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.padding_side = base.padding_side

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    old_rows = model.get_input_embeddings().weight.shape[0]
    new_ids = [tokenizer.convert_tokens_to_ids(t) for t in added]
    texts_of = [tokenizer.convert_tokens_to_string([t]) for t in added]
    pieces = [piece_ids(base, t) for t in texts_of]
    model.resize_token_embeddings(max(len(tokenizer), old_rows), mean_resizing=False)
    gen = torch.Generator().manual_seed(seed)
    init_rows(model.get_input_embeddings().weight, new_ids, pieces, init, gen)
    head = model.get_output_embeddings()
    tied = head is None or head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    if not tied:
        init_rows(head.weight, new_ids, pieces, init, gen)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "added_tokens_init.json").write_text(json.dumps(
        [{"id": i, "text": t, "pieces": p} for i, t, p in zip(new_ids, texts_of, pieces)],
        ensure_ascii=False, indent=1), encoding="utf-8")
    return {"vocab_before": float(len(base)), "vocab_after": float(len(tokenizer)),
            "added_tokens": float(len(added)), "tied_embeddings": float(tied),
            "mean_pieces_per_new_token": sum(map(len, pieces)) / max(len(pieces), 1)}
