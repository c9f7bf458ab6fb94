"""Generation fan-out: one worker against W local workers on the same translation step.

Runs `translate_bootstrap` (tiny Llama teacher, transformers engine, greedy) through
`dispatch.run_step` once with one worker and once with `--workers` worker processes, each in a
fresh store, every engine limited to one thread (a worker here stands for one GPU group). Prints
wall time, rows/s, the speed-up, and checks that both outputs are byte-identical. Then projects
the paper's generation steps from a stated per-GPU throughput per step (`PAPER`), scaled by the
assumption that each worker has GPUs of its own.

    python benchmarks/generation_workers.py [--rows 384] [--shard-rows 16] [--new-tokens 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: one core per engine, parent and workers alike

# (step, rows, texts per row, GPUs per worker, assumed texts/s per GPU) at the paper's scale: 405K Orca
# pairs, question and response, through the 111B FP8 teacher on a full node (tensor parallel 8);
# ~1M OPUS pairs through the 3B judge (prefill-bound, one output token); 4.5M instruction rows,
# question and response, through the 1.2B translator. The rates are assumptions (vLLM, H100-class
# GPU, ~300 output tokens per text): 1 text/s/GPU for the teacher matches the paper's ~$500 on
# 12xA100 for its translation; the others scale with model size.
PAPER = [("translate_bootstrap (111B teacher, TP8)", 405_000, 2, 8, 1.0),
         ("judge (Qwen2.5-3B)", 1_000_000, 1, 1, 50.0),
         ("translate_corpus (LFM2-1.2B)", 4_500_000, 2, 1, 15.0)]


def run(workers: int, rows: int, shard_rows: int, new_tokens: int, model: Path, root: Path) -> tuple[float, dict]:
    from hala_exp.config import compose
    from hala_exp.pipeline.dispatch import run_step
    from hala_exp.pipeline.execute import execute, make_spec
    from hala_exp.pipeline.store import Store
    from hala_exp.recipes import build_graph
    from hala_exp.recipes.graph import step_keys

    cfg = compose([f"store={root / 'store'}", f"data.bootstrap.rows={rows}", f"engine.shard_rows={shard_rows}",
                   "engine.device=cpu", f"teacher.max_new_tokens={new_tokens}", "teacher.fp8=false"])
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    execute(make_spec(next(s for s in steps if s.name == "source.bootstrap"), keys, store))
    spec = make_spec(next(s for s in steps if s.name == "translate_bootstrap"), keys, store)
    spec["inputs"]["model"] = str(model)
    began = time.perf_counter()
    # One process start on the critical path either way: the lone worker runs as `python -m hala_exp.step_process`
    # (as a one-worker job would), W workers as W processes and the gather in this one.
    python = sys.executable if workers == 1 else None
    record, _ = run_step(spec, python, root / "steps", echo=False, workers=workers)
    seconds = time.perf_counter() - began
    out = store.path(spec["name"], spec["key"])
    return seconds, {**record["metrics"], "bytes": (out / "tuples.jsonl").read_bytes() + (out / "rejected.jsonl").read_bytes()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=384)
    p.add_argument("--shard-rows", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()

    from hala_exp.data.samples_text import sample_texts
    from hala_exp.models.tiny import save_tiny

    with tempfile.TemporaryDirectory() as d:
        model = Path(d) / "model"
        save_tiny(model, arch="llama", texts=sample_texts(), vocab_size=512, hidden_size=64, layers=2, heads=2,
                  intermediate_size=128, max_position=512, seed=0)
        one_s, one = run(1, args.rows, args.shard_rows, args.new_tokens, model, Path(d) / "one")
        many_s, many = run(args.workers, args.rows, args.shard_rows, args.new_tokens, model, Path(d) / "many")
    assert one["bytes"] == many["bytes"], "the fanned-out output differs from the one-worker output"
    rows = int(one["rows"])  # what the sample source holds, at most --rows
    speedup = one_s / many_s
    efficiency = speedup / args.workers
    print(f"{rows} rows, shards of {args.shard_rows}, {args.new_tokens} new tokens, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; outputs byte-identical")
    print("| workers | wall s (process start, model load included) | engine s, all workers | rows/s | "
          "ratio vs 1 worker |\n|---|---|---|---|---|")
    print(f"| 1 | {one_s:.1f} | {one['generation_seconds']:.1f} | {rows / one_s:.2f} | 1.00x |")
    print(f"| {args.workers} | {many_s:.1f} | {many['generation_seconds']:.1f} | {rows / many_s:.2f} | "
          f"{speedup:.2f}x |")
    print(f"\nparallel efficiency here {efficiency:.2f} (the workers share this machine's cores). Projection, "
          "each worker on GPUs of its own (linear in workers; the gather only reads and writes files):")
    print("| step | rows | texts | assumed texts/s/GPU | GPUs per worker | GPU-hours | wall h, 1 worker | "
          "wall h, 8 workers | wall h, 32 workers |\n|---|---|---|---|---|---|---|---|---|")
    for name, rows, texts, gpus, rate in PAPER:
        gpu_h = rows * texts / rate / 3600
        cells = [f"{gpu_h / gpus / w:.1f}" for w in (1, 8, 32)]
        print(f"| {name} | {rows:,} | {rows * texts:,} | {rate:g} | {gpus} | {gpu_h:,.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
