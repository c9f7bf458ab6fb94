"""What checking stored outputs costs: the size check every reuse makes, and content hashing
(`store_verify=hash`, `hala-exp-verify`) against plainly reading the same bytes.

Prints, for a model-sized file (default 2 GiB, about a 1.2B model in bf16), the seconds to read it
and to hash it, from the page cache and from disk (the file's cached pages dropped first), and the
ratio hash / read: near 1 means hashing costs no more than reading.

    python benchmarks/verify.py [GiB]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from hala_exp.pipeline.manifest import CHUNK, check_files, file_hash, list_files


def _read(path: Path) -> None:
    buf = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _timed(fn, path: Path, cold: bool) -> float:
    if cold:
        _drop_cache(path)
    else:
        fn(path)  # warm the cache
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def main() -> None:
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        root = Path(d)
        (root / "model").mkdir()
        big = root / "model" / "model.safetensors"
        with open(big, "wb") as f:
            for _ in range(int(gib * 128)):
                f.write(os.urandom(8 << 20))
        for i in range(200):  # the small files of an output (configs, tokenizer, logs)
            (root / f"file{i}.json").write_text("{}" * i)
        size = big.stat().st_size
        print(f"| {size / 2**30:.2f} GiB | read s | hash s | hash / read | hash GiB/s |")
        print("|---|---|---|---|---|")
        for label, cold in (("page cache", False), ("disk", True)):
            read, hashed = _timed(_read, big, cold), _timed(file_hash, big, cold)
            print(f"| {label} | {read:.2f} | {hashed:.2f} | {hashed / read:.2f} | {size / hashed / 2**30:.2f} |")
        files = list_files(root)
        start = time.perf_counter()
        assert check_files(root, files) is None
        sizes = time.perf_counter() - start
        print(f"\nsize check of {len(files)} files (every reuse): {sizes * 1000:.2f} ms")


if __name__ == "__main__":
    main()
