"""Where answers that depend only on what is installed are kept between runs and stores."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`HALA_EXP_CACHE`, else `$XDG_CACHE_HOME/hala-exp`, else `~/.cache/hala-exp`."""
    if os.environ.get("HALA_EXP_CACHE"):
        return Path(os.environ["HALA_EXP_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hala-exp"
