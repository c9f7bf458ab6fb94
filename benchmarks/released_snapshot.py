"""The released corpus' snapshot (hammh0a/Hala-4.6M-SFT through `hala_sft`, streamed) at two sizes:
peak memory must not grow with the row count, against a naive read that keeps every row.

The hub's streamed loader is replaced by a generator of synthetic rows in the dataset's published
format (`conversations` of ShareGPT turns, user ~300 and assistant ~900 characters of Arabic
words), so nothing is downloaded. Each read runs in its own child process, so each peak RSS
(ru_maxrss) is its own; the naive read is `list(iter_chat(...))`, every chat row held.

    python benchmarks/released_snapshot.py                        # 100K and 400K rows
    python benchmarks/released_snapshot.py --rows 200000,2000000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import tempfile
import time
from pathlib import Path

WORDS = ["السلام", "العربية", "الترجمة", "النموذج", "البيانات", "السؤال", "الجواب", "مثال", "النظام", "التدريب",
         "الجملة", "البحث", "النتيجة", "الطريقة", "القيمة", "العدد", "الجدول", "الشكل", "القسم", "الدراسة"]


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    return " ".join(words)


def fake_stream(n: int):
    """`datasets.load_dataset(..., streaming=True)` for `n` synthetic rows, made as they are pulled."""
    def load(*_args, **_kwargs):
        rng = random.Random(0)
        pool = [(_text(rng, 300), _text(rng, 900)) for _ in range(1000)]
        return ({"conversations": [{"from": "human", "value": pool[i % 1000][0] + f" {i}"},
                                   {"from": "gpt", "value": pool[i % 1000][1]}]} for i in range(n))
    return load


def _run(mode: str, n: int, out: Path, result: mp.Queue) -> None:
    import datasets
    from omegaconf import OmegaConf

    from hala_exp.config.schema import SourceConfig

    datasets.load_dataset = fake_stream(n)
    src = OmegaConf.merge(OmegaConf.structured(SourceConfig),
                          {"path": "hammh0a/Hala-4.6M-SFT", "adapter": "hala_sft", "format": "hub", "id_field": None,
                           "lang": "ar", "streaming": True, "rows": n})
    started = time.perf_counter()
    if mode == "snapshot":
        from hala_exp.data.snapshot import write_snapshot

        kept = int(write_snapshot("chat", src, "hala_sft", "data.translated.hala_sft", out)["rows.kept"])
    else:
        from hala_exp.data.adapters import iter_chat

        kept = len(list(iter_chat(src, "hala_sft")))
    result.put((kept, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(mode: str, n: int) -> tuple[int, float, float]:
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        p = ctx.Process(target=_run, args=(mode, n, Path(tmp), result))
        p.start()
        value = result.get()
        p.join()
    return value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="100000,400000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.rows.split(",")]
    print("| read | rows | wall s | peak RSS MB |\n|---|---|---|---|")
    peaks = {}
    for mode in ("snapshot", "naive"):
        for n in sizes:
            kept, wall, peak = measure(mode, n)
            peaks[mode, n] = peak
            print(f"| {mode} | {kept:,} | {wall:.1f} | {peak:,.0f} |", flush=True)
    lo, hi = sizes[0], sizes[-1]
    print(f"\nPeak RSS {hi:,} / {lo:,} rows: snapshot {peaks['snapshot', hi] / peaks['snapshot', lo]:.2f}x, "
          f"naive {peaks['naive', hi] / peaks['naive', lo]:.2f}x (rows: {hi / lo:.1f}x)")


if __name__ == "__main__":
    main()
