"""Load models and tokenizers from a hub id or a local directory, on the right device and dtype."""

from __future__ import annotations

from typing import Any

from hala_exp.data.paths import is_local_path


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str, device: str):
    """bf16/fp16 on accelerators; float32 on CPU where half precision is slow and lossy."""
    import torch

    if name == "auto":
        return torch.float32 if device == "cpu" else torch.bfloat16
    return getattr(torch, name)


def split_revision(path: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); local paths and bare hub ids pass through."""
    if "@" in path and not is_local_path(path):
        name, rev = path.rsplit("@", 1)
        return name, rev
    return path, None


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    path, revision = split_revision(path)
    tok = AutoTokenizer.from_pretrained(path, revision=revision)
    tok.padding_side = "left"  # batched generation continues from the right edge
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def special_token_strings(tokenizer: Any) -> list[str]:
    """The tokenizer's special tokens as text: `all_special_tokens` plus added tokens marked special
    (chat markers such as `<|im_start|>` are often added outside the special-tokens map)."""
    tokens = set(getattr(tokenizer, "all_special_tokens", []))
    tokens.update(t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special)
    return sorted(t for t in tokens if t.strip())


CAPPED_ATTENTION = "eager"  # sdpa ignores `softcap`; eager applies it and runs on every device


def model_config(path: str) -> Any:
    """The model's `PretrainedConfig` (config.json only, no weights)."""
    from transformers import AutoConfig

    name, revision = split_revision(path)
    return AutoConfig.from_pretrained(name, revision=revision)


def attention(config: Any) -> str | None:
    """The attention implementation that keeps the architecture's semantics: eager when the model caps
    its attention logits (`attn_logit_softcapping`, Gemma-2 / Fanar-1-9B; sdpa drops the cap, vLLM
    applies it), else None (transformers' default). Training and every transformers-side evaluation
    load with it, so a score means what vLLM serves."""
    return CAPPED_ATTENTION if getattr(config, "attn_logit_softcapping", None) else None


def attention_kwargs(path: str) -> dict[str, Any]:
    """`from_pretrained` keyword for `attention`, empty when the default keeps the semantics."""
    impl = attention(model_config(path))
    return {"attn_implementation": impl} if impl else {}


def load_causal_lm(path: str, device: str = "cpu", dtype: str = "auto", spread: bool = False):
    """`spread` (CUDA): place the layers over every visible GPU, for models no single one holds."""
    from transformers import AutoModelForCausalLM

    extra = attention_kwargs(path)
    path, revision = split_revision(path)
    if spread and device == "cuda":
        return AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch_dtype(dtype, device),
                                                    device_map="auto", **extra).eval()
    model = AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch_dtype(dtype, device), **extra)
    return model.to(device).eval()
