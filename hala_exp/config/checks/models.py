"""Checks of the model groups (model, teacher, translator, judge): tiny shapes, local paths, GGUF files."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.checks.sources import check_directory
from hala_exp.config.checks.training import check_batch
from hala_exp.config.errors import check_choice, fail
from hala_exp.data.paths import is_local_path, resolve_path
from hala_exp.models.tiny import ARCHS


def check_model(key: str, m: DictConfig) -> None:
    if m.id == "tiny":
        if m.tiny is None:
            fail(f"{key}.id", m.id, f"'tiny' needs {key}.tiny (the architecture to build)",
                 f"add {key}.tiny or point {key}.id at a hub id or local directory")
        check_choice(f"{key}.tiny.arch", m.tiny.arch, ARCHS)
        check_choice(f"{key}.tiny.warmup", m.tiny.warmup, ("none", "translate", "judge"))
        for f in ("hidden_size", "layers", "heads", "vocab_size"):
            if m.tiny[f] <= 0:
                fail(f"{key}.tiny.{f}", m.tiny[f], "must be positive", f"set {key}.tiny.{f} to e.g. 64")
    elif not _check_gguf(key, m) and is_local_path(m.id):
        if not resolve_path(m.id).exists():
            fail(f"{key}.id", m.id, "this local model directory does not exist",
                 "point it at a directory saved with save_pretrained, or use a hub id like LiquidAI/LFM2-350M")
        check_directory(f"{key}.id", m.id)
    check_batch(key, m)
    for f in ("learning_rate", "max_length"):
        if m[f] <= 0:
            fail(f"{key}.{f}", m[f], "must be positive", f"set {key}.{f} to a positive value")
    check_choice(f"{key}.dtype", m.dtype, ("float32", "bfloat16", "float16"))


def _check_gguf(key: str, m: DictConfig) -> bool:
    """True when the model's weights come from its GGUF file, which then must be installed."""
    from hala_exp.models.gguf import SETUP_HINT, gguf_path, uses_gguf

    if m.get("gguf") is None:
        return False
    check_choice(f"{key}.gguf.use", m.gguf.use, ("auto", "always", "never"))
    check_choice(f"{key}.gguf.dtype", m.gguf.dtype, ("bfloat16", "float32", "float16"))
    if not uses_gguf(m):
        return False
    try:
        gguf_path(m.gguf.package, m.gguf.file)
    except FileNotFoundError as e:
        fail(f"{key}.gguf.package", m.gguf.package, f"the hub is offline and {e}",
             f"{SETUP_HINT}, or set HF_HUB_OFFLINE=0 and {key}.gguf.use=never to download {m.id}")
    return True
