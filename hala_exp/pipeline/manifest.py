"""The file list of a committed output: each file's size and xxh3-128, written into its record.

A stage's output can be damaged after it was committed (a disk filling up, a copy cut short, a hand
edit). The list lets reuse notice: sizes are compared at every reuse (one stat per file), content
hashes when asked (`hala-exp-verify`, and before a step that runs reads a reused output).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20  # bytes read at a time into one buffer: memory stays flat whatever the file's size
HASH = "xxh3_128"


def file_hash(path: Path) -> str:
    """xxh3-128 of the file's bytes, streamed (several GB/s: disk-bound, not CPU-bound)."""
    import xxhash

    h = xxhash.xxh3_128()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def list_files(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "xxh3_128"}} for every file under `root` (links followed), sorted."""
    files: dict[str, dict[str, Any]] = {}
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        for name in sorted(names):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel in skip or not p.is_file():
                continue
            files[rel] = {"size": p.stat().st_size, HASH: file_hash(p)}
    return files


@dataclass(frozen=True)
class Problem:
    """Why an output cannot be reused: the file (relative to the output) and what is wrong with it."""

    entry: Path
    file: str
    detail: str

    def __str__(self) -> str:
        return f"{self.entry / self.file}: {self.detail}"


def _size(n: int) -> str:
    return f"{n:,} bytes"


def check_files(root: Path, files: dict[str, Any], hashes: bool = False) -> Problem | None:
    """The first listed file that is missing, of another size or (with `hashes`) other content."""
    for rel, want in files.items():
        p = root / rel
        try:
            size = p.stat().st_size
        except OSError:
            return Problem(root, rel, f"missing (expected {_size(want['size'])})")
        if size != want["size"]:
            return Problem(root, rel, f"{_size(size)}, expected {_size(want['size'])}")
    if hashes:
        for rel, want in files.items():
            found = file_hash(root / rel)
            if found != want[HASH]:
                return Problem(root, rel, f"content changed: {HASH} {found}, expected {want[HASH]}")
    return None


def valid_list(files: Any) -> bool:
    """A file list as `list_files` writes it (a damaged record may hold anything)."""
    return isinstance(files, dict) and all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get(HASH), str)
        for v in files.values())
