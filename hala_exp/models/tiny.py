"""Tiny models with the real architectures, built from configs in code.

They let the whole pipeline run on a CPU with nothing downloaded: the tokenizer is a byte-level BPE
trained on the bundled Arabic/English samples, and the model is an LFM2 or Llama-style network of a
few layers with a chat template that marks assistant turns for TRL's assistant-only loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# ChatML-style template; `{% generation %}` lets TRL mask everything but assistant turns.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|startoftext|>", "<|im_start|>", "<|im_end|>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int):
    """Train a byte-level BPE on `texts` and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<|pad|>",
        bos_token="<|startoftext|>",
        eos_token="<|im_end|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


ARCHS = ("lfm2", "llama")  # what `build_model` builds


def build_model(arch: str, vocab_size: int, hidden_size: int, layers: int, heads: int,
                intermediate_size: int, max_position: int, seed: int, tokenizer):
    """A randomly initialised causal LM of the given real architecture."""
    import torch
    from transformers import Lfm2Config, Lfm2ForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id)
    if arch == "lfm2":
        # Alternate conv and attention blocks, as the real LFM2 does.
        layer_types = ["conv" if i % 2 == 0 else "full_attention" for i in range(layers)]
        config = Lfm2Config(
            vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
            num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
            max_position_embeddings=max_position, layer_types=layer_types,
            block_auto_adjust_ff_dim=False, tie_word_embeddings=True, **ids,
        )
        model = Lfm2ForCausalLM(config)
    elif arch == "llama":
        config = LlamaConfig(
            vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
            num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
            max_position_embeddings=max_position, tie_word_embeddings=False, **ids,
        )
        model = LlamaForCausalLM(config)
    else:
        raise ValueError(f"model.tiny.arch = {arch!r} is not supported: use 'lfm2' or 'llama'")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def save_tiny(out: Path, arch: str, texts: Iterable[str], vocab_size: int, hidden_size: int,
              layers: int, heads: int, intermediate_size: int, max_position: int, seed: int) -> dict:
    """Train the tokenizer, build the model and save both to `out` (loadable by from_pretrained)."""
    tokenizer = train_tokenizer(texts, vocab_size)
    model = build_model(arch, len(tokenizer), hidden_size, layers, heads, intermediate_size,
                        max_position, seed, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"parameters": float(sum(p.numel() for p in model.parameters())),
            "vocab_size": float(len(tokenizer))}
