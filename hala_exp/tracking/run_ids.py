"""A step's W&B run id, kept in the store under `<store>/.tracking/<step>/<key>.json`.

The id is fixed before the step starts and lives outside the step's work directory, so a killed or
requeued execution of the same step (same key) resumes the same W&B run instead of starting another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def id_file(store_root: Path, step: str, key: str) -> Path:
    return Path(store_root) / ".tracking" / step / f"{key}.json"


def claim_run_id(store_root: Path, step: str, key: str, new_id: str, about: dict[str, Any]) -> str:
    """The id already kept for this step key, else `new_id`, written once (O_EXCL: first writer wins)."""
    f = id_file(store_root, step, key)
    f.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return json.loads(f.read_text(encoding="utf-8"))["run_id"]
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({**about, "run_id": new_id}, out, indent=2, sort_keys=True)
    return new_id
