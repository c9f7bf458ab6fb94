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


def load_causal_lm(path: str, device: str = "cpu", dtype: str = "auto", spread: bool = False):
    """`spread` (CUDA): place the layers over every visible GPU, for models no single one holds."""
    from transformers import AutoModelForCausalLM

    path, revision = split_revision(path)
    if spread and device == "cuda":
        return AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch_dtype(dtype, device),
                                                    device_map="auto").eval()
    model = AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch_dtype(dtype, device))
    return model.to(device).eval()
