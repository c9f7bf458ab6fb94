"""Small file helpers: JSON Lines in and out, UTF-8 with Arabic kept readable."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def replace_text(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: readers see the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, obj: Any, atomic: bool = False) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if atomic:
        replace_text(path, text)
    else:
        path.write_text(text, encoding="utf-8")


def tail_lines(path: str | Path | None, n: int, max_bytes: int = 256_000) -> list[str]:
    """The last `n` non-blank lines of a text file (from its last `max_bytes`); a line redrawn with
    carriage returns, as progress bars do, gives its last state. [] when there is no such file."""
    if not path or not Path(path).is_file() or n <= 0:
        return []
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
        text = f.read().decode("utf-8", errors="replace").replace("\r\n", "\n")
    lines = [[seg for seg in line.split("\r") if seg.strip()][-1:] for line in text.split("\n")]
    return [seg for segs in lines for seg in segs][-n:]
