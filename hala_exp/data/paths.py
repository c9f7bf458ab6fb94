"""Path conventions: `samples:<rel>` is a file bundled in the package, `./x` or `/x` is local."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def is_local_path(value: str) -> bool:
    """True for paths the user means as files on disk rather than hub ids."""
    return value.startswith(("/", "./", "../", "~", "samples:")) or Path(value).exists()


def resolve_path(value: str) -> Path:
    if value.startswith("samples:"):
        return SAMPLES_DIR / value.removeprefix("samples:")
    return Path(value).expanduser().resolve()
