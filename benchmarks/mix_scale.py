"""A 4.5M-row mix from seven synthetic sources: the streaming builder against a naive in-memory build.

Rows have realistic lengths (user ~300, assistant ~900 characters, ~1.2 KB a row) and 1% repeats,
split over seven sources in the paper's proportions. The streaming builder (hala_exp.data.mix)
builds the whole 4.5M-row mix; the naive build (every row in a Python list, a set for
de-duplication, random.shuffle, one pyarrow write) builds a tenth of it and is scaled up
linearly (its peak memory above the bare interpreter's times 10). Each build runs in its own child
process so each peak RSS (VmHWM) is its own.

    python benchmarks/mix_scale.py                  # 4.5M rows, a few minutes
    python benchmarks/mix_scale.py --rows 450000    # quicker
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SHARES = {"openorca": 405_000, "hermes3": 850_000, "scp116k": 116_000, "realign_alpaca": 52_000,
          "synthetic_instruct_gptj": 33_000, "lamini": 2_100_000, "tulu3": 944_000}
WORDS = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be", "by", "this", "are", "from", "at", "or", "an", "have", "not", "which", "translation", "model", "data", "language", "arabic", "english", "question", "answer", "example", "system", "training", "sentence", "research", "result", "method", "value", "number", "table", "figure", "section", "paper", "study"]


def _pool(seed: int, n: int, mean_chars: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        target = max(20, int(rng.gauss(mean_chars, mean_chars / 3)))
        words: list[str] = []
        length = 0
        while length < target:
            w = rng.choice(WORDS)
            words.append(w)
            length += len(w) + 1
        out.append(" ".join(words).capitalize() + ".")
    return out


def synthetic_rows(name: str, n: int, questions: list[str], answers: list[str]) -> Iterator[dict]:
    """Deterministic rows; every 100th repeats an earlier row of the same source (a duplicate)."""
    for i in range(n):
        j = i - 1 if i % 100 == 99 else i
        yield {"id": f"{name}-{i}", "source": name, "lang": "en",
               "messages": [{"role": "user", "content": f"{questions[j % len(questions)]} ({name} {j})"},
                            {"role": "assistant", "content": answers[(j * 7) % len(answers)]}]}


def sizes(total: int) -> dict[str, int]:
    from hala_exp.data.mix import weighted_caps

    return weighted_caps({k: float(v) for k, v in SHARES.items()}, total)


def status_mb(field: str) -> float:
    """A memory field of /proc/self/status in MB: VmHWM is the peak RSS, VmRSS the current one."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def streaming(total: int, out: Path, q) -> None:
    from hala_exp.data.mix import MixSource, build_mix

    questions, answers = _pool(0, 5000, 300), _pool(1, 5000, 900)
    start_rss = status_mb("VmRSS")
    t0 = time.perf_counter()
    srcs = [MixSource(k, synthetic_rows(k, n, questions, answers)) for k, n in sizes(total).items()]
    counts = build_mix(srcs, out, seed=0, dedup="normalized", expected_rows=total)
    q.put({"seconds": time.perf_counter() - t0, "peak_mb": status_mb("VmHWM"), "start_mb": start_rss,
           "rows": counts.total, "bytes": out.stat().st_size})


def naive(total: int, out: Path, q) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala_exp.data.mix import normalize

    questions, answers = _pool(0, 5000, 300), _pool(1, 5000, 900)
    start_rss = status_mb("VmRSS")
    t0 = time.perf_counter()
    rows, seen = [], set()
    for k, n in sizes(total).items():
        for r in synthetic_rows(k, n, questions, answers):
            key = tuple(normalize(m["content"]) for m in r["messages"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    random.Random(0).shuffle(rows)
    pq.write_table(pa.Table.from_pylist(rows), out)
    q.put({"seconds": time.perf_counter() - t0, "peak_mb": status_mb("VmHWM"), "start_mb": start_rss,
           "rows": len(rows), "bytes": out.stat().st_size})


def in_child(fn, total: int, out: Path) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(total, out, q))
    p.start()
    while True:  # a child that dies (killed, out of memory) must not leave the parent waiting forever
        try:
            result = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise SystemExit(f"{fn.__name__} build died with exit code {p.exitcode}") from None
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4_500_000)
    ap.add_argument("--naive-fraction", type=float, default=0.1)
    args = ap.parse_args()
    small = int(args.rows * args.naive_fraction)
    scale = args.rows / small
    with tempfile.TemporaryDirectory() as d:
        s = in_child(streaming, args.rows, Path(d) / "stream.parquet")
        n = in_child(naive, small, Path(d) / "naive.parquet")
    n_sec, n_mb = n["seconds"] * scale, n["start_mb"] + (n["peak_mb"] - n["start_mb"]) * scale
    print("| build | rows in | rows out | wall s | peak RSS MB |\n|---|---|---|---|---|")
    print(f"| streaming (hala_exp.data.mix) | {args.rows:,} | {s['rows']:,} | {s['seconds']:.1f} | {s['peak_mb']:.0f} |")
    print(f"| naive in memory, measured | {small:,} | {n['rows']:,} | {n['seconds']:.1f} | {n['peak_mb']:.0f} |")
    print(f"| naive in memory, scaled x{scale:g} | {args.rows:,} | - | {n_sec:.1f} | {n_mb:.0f} |")
    print(f"streaming output: {s['bytes'] / 2**20:.0f} MiB Parquet")
    print(f"ratio naive(scaled) / streaming: wall {n_sec / s['seconds']:.2f}x, peak RSS {n_mb / s['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
