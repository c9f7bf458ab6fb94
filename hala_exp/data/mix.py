"""Build one instruction mix from many sources, streaming, into a Parquet file plus per-source counts.

Two passes keep memory flat in the mix's size: pass 1 streams every source once (caps, then
de-duplication by a 64-bit content hash, first occurrence wins in config order) and scatters the
kept rows into Parquet buckets chosen by a seeded RNG; pass 2 reads one bucket at a time, applies
a seeded permutation, and appends it to the output. (The SFT set's Arabic/English share is chosen
later, per row, by `arabic_rows`: the translation itself never depends on it.) Random bucket then
random order within it is a uniform shuffle, and the same sources, settings and seed give the same
rows in the same order.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hala_exp.data.dedup import DEDUP_MODES, content_hash, normalize  # noqa: F401 (normalize: re-exported)
from hala_exp.data.snapshot import schema as snapshot_schema

if TYPE_CHECKING:
    import numpy as np
    import pyarrow.parquet as pq

# numpy and pyarrow are imported where rows are written or drawn: planning a run imports this
# module (through the stages) and should not pay for them.


def schema() -> Any:
    """The mix's Arrow schema: chat rows, as a chat snapshot holds them."""
    return snapshot_schema("chat")


@dataclass
class MixSource:
    """One source's chat rows, in order, and how many of them the mix may take (None: all)."""

    name: str
    rows: Iterable[dict[str, Any]]
    cap: int | None = None


@dataclass
class MixCounts:
    sources: dict[str, Counter] = field(default_factory=dict)
    languages: Counter = field(default_factory=Counter)
    total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "languages": dict(self.languages),
                "sources": {k: dict(v) for k, v in self.sources.items()}}


def weighted_caps(weights: dict[str, float], total: int) -> dict[str, int]:
    """Per-source row caps summing to `total`, in proportion to weights (largest remainders)."""
    s = sum(weights.values())
    exact = {k: total * w / s for k, w in weights.items()}
    caps = {k: math.floor(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (caps[k] - exact[k], k))[: total - sum(caps.values())]:
        caps[k] += 1
    return caps


def arabic_rows(n: int, arabic_ratio: float | None, seed: int) -> np.ndarray:
    """Which of `n` parallel rows (each with an Arabic and an English side) train in Arabic.

    Exactly round(ratio * n) rows, a seeded choice; the rest train in English. Every row appears
    once in one language, so the ratio points of an ablation share size and content and differ
    only in language. None means Arabic only (the HALA recipe).
    """
    import numpy as np

    mask = np.ones(n, dtype=bool)
    if arabic_ratio is None or arabic_ratio >= 1.0:
        return mask
    mask[:] = False
    mask[np.random.default_rng([seed, 3]).choice(n, size=round(arabic_ratio * n), replace=False)] = True
    return mask


class _Buckets:
    """Pass-1 output: rows scattered over Parquet files, buffered a few thousand at a time."""

    def __init__(self, tmp: Path, flush_rows: int = 2048):
        self.tmp = tmp
        self.paths: list[Path] = []
        self.writers: list[pq.ParquetWriter | None] = []
        self.buffers: list[list[dict]] = []
        self.flush_rows = flush_rows

    def add(self, i: int, row: dict) -> None:
        while i >= len(self.paths):
            self.paths.append(self.tmp / f"bucket-{len(self.paths):05d}.parquet")
            self.writers.append(None)
            self.buffers.append([])
        self.buffers[i].append(row)
        if len(self.buffers[i]) >= self.flush_rows:
            self._flush(i)

    def _flush(self, i: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffers[i]:
            return
        if self.writers[i] is None:
            self.writers[i] = pq.ParquetWriter(self.paths[i], schema(), compression="none")
        self.writers[i].write_table(pa.Table.from_pylist(self.buffers[i], schema=schema()))
        self.buffers[i] = []

    def close(self) -> list[Path]:
        for i in range(len(self.paths)):
            self._flush(i)
            if self.writers[i] is not None:
                self.writers[i].close()
        return [p for p, w in zip(self.paths, self.writers) if w is not None]


def _bucket_draws(rng: np.random.Generator, n: int) -> Iterator[int]:
    while True:
        yield from rng.integers(0, n, size=65536).tolist()


def build_mix(sources: list[MixSource], out: Path, *, seed: int, dedup: str = "normalized",
              shuffle: bool = True, bucket_rows: int = 100_000, expected_rows: int | None = None) -> MixCounts:
    """Write `out` (Parquet, `schema()`) from the sources and return the counts; `out` appears only whole.

    `expected_rows`, an upper bound on the rows kept, sets the number of shuffle buckets (one per
    `bucket_rows`); it defaults to the sum of the caps. Too low a bound only makes buckets larger.
    """
    import numpy as np
    import pyarrow.parquet as pq

    if dedup not in DEDUP_MODES:
        raise ValueError(f"dedup = {dedup!r}: must be one of {', '.join(DEDUP_MODES)}")
    out = Path(out)
    tmp = out.with_name(out.name + ".parts")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    counts = MixCounts()
    if expected_rows is None:
        caps = [s.cap for s in sources]
        expected_rows = sum(caps) if all(c is not None for c in caps) else bucket_rows
    n_buckets = max(1, math.ceil(expected_rows / bucket_rows))
    buckets = _Buckets(tmp)
    draws = _bucket_draws(np.random.default_rng([seed, 0]), n_buckets)
    seen: set[int] = set()
    placed = 0
    for src in sources:
        c = counts.sources.setdefault(src.name, Counter())
        c["in"] = c["kept"] = 0
        if dedup != "none":
            c[f"duplicate_{dedup}"] = 0
        if src.cap == 0:
            continue
        for row in src.rows:
            c["in"] += 1
            if dedup != "none":
                h = content_hash(row["messages"], dedup)
                if h in seen:
                    c[f"duplicate_{dedup}"] += 1
                    continue
                seen.add(h)
            c["kept"] += 1
            # shuffled: a random bucket; in order: consecutive buckets of `bucket_rows`
            buckets.add(next(draws) if shuffle else placed // bucket_rows, row)
            placed += 1
            if src.cap is not None and c["kept"] >= src.cap:
                c["stopped_at_cap"] = 1  # the source is read only as far as the mix needs
                break
    del seen
    paths = buckets.close()

    part = out.with_name(out.name + ".partial")
    with pq.ParquetWriter(part, schema()) as writer:
        for b, path in enumerate(paths):
            table = pq.read_table(path)
            if shuffle:
                table = table.take(np.random.default_rng([seed, 2, b]).permutation(table.num_rows))
            writer.write_table(table, row_group_size=10_000)
            for name, n in Counter(table.column("source").to_pylist()).items():
                counts.sources[name]["out"] += n
            for code, n in Counter(table.column("lang").to_pylist()).items():
                counts.languages[code] += n
            counts.total += table.num_rows
            path.unlink()
    for c in counts.sources.values():
        c["out"] += 0
    shutil.rmtree(tmp, ignore_errors=True)
    part.replace(out)
    return counts


def iter_mix(path: Path, batch_rows: int = 2048) -> Iterator[dict[str, Any]]:
    """The mix's rows, streamed in order."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()


def write_counts(path: Path, counts: MixCounts, **extra: Any) -> None:
    path.write_text(json.dumps({**counts.as_dict(), **extra}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
