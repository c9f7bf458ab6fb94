"""Which Slurm job computes which step output: `<store>/.jobs/<step>/<key>.json`.

Keyed like the store, so every run and sweep point that needs the same output finds the job
already submitted for it and depends on it instead of submitting it again. Only submitting
processes take the lock (briefly, on the login node); jobs never wait on it.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hala_exp.json_files import write_json


class JobRegistry:
    def __init__(self, store_root: str | Path):
        self.root = Path(store_root) / ".jobs"

    def _file(self, step: str, key: str) -> Path:
        return self.root / step / f"{key}.json"

    @contextmanager
    def locked(self) -> Iterator[JobRegistry]:
        """One submitter at a time, so two sweep points never both submit the same step."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get(self, step: str, key: str) -> dict[str, Any] | None:
        f = self._file(step, key)
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None

    def put(self, step: str, key: str, entry: dict[str, Any]) -> None:
        f = self._file(step, key)
        f.parent.mkdir(parents=True, exist_ok=True)
        write_json(f, entry, atomic=True)

    def remove(self, step: str, key: str) -> None:
        self._file(step, key).unlink(missing_ok=True)
