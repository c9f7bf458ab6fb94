"""Small file helpers: JSON Lines in and out, UTF-8 with Arabic kept readable."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The rows one at a time: memory flat in the file's size."""
    with open(path, encoding="utf-8") as f:
        yield from (json.loads(line) for line in f if line.strip())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


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


# A progress bar's line: tqdm's `42%|####  | 5/12 [00:01<00:02, 3.1it/s]` (also without a bar or a
# total: `80 examples [00:00, 4000 examples/s]`), or the marker line of a step run in another process.
PROGRESS_LINE = re.compile(r"\d+%\|"  # "42%|"
                           r"|\|\s*[\d.]+[kMG]?(?:/[\d.?]+[kMG]?)? \[\d+:\d+"  # "| 5/12 [00:01", "| 5 [00:01"
                           r"|\[\d+:\d+(?::\d+)?(?:<[\d:?]+)?, *[\d.?]+ ?[kMG]?[\w ]*/s\]"  # "[00:00, 4000 examples/s]"
                           r"|\x1ehala-progress ")


def is_progress(line: str) -> bool:
    """True for a progress bar's line or a progress marker: noise at the end of a log."""
    return PROGRESS_LINE.search(line) is not None


def tail_lines(path: str | Path | None, n: int, max_bytes: int = 256_000, progress: bool = False) -> list[str]:
    """The last `n` non-blank lines of a text file (from its last `max_bytes`); a line redrawn with
    carriage returns, as progress bars do, gives its last state, and progress bars and markers are
    left out unless `progress`: they would fill the tail of a log that says why a step stopped.
    [] when there is no such file."""
    if not path or not Path(path).is_file() or n <= 0:
        return []
    with open(path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
        text = f.read().decode("utf-8", errors="replace").replace("\r\n", "\n")
    lines = [[seg for seg in line.split("\r") if seg.strip()][-1:] for line in text.split("\n")]
    return [seg for segs in lines for seg in segs if progress or not is_progress(seg)][-n:]
