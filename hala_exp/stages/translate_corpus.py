"""Stage 5: the fine-tuned small translator turns the English instruction mix into Arabic.

Output `corpus.jsonl`: one row per source row, id and source kept, both languages side by side.
Rows go through in shards of `engine.shard_rows` committed to `inputs["shards"]` (resumable).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.sources import load_instructions
from hala_exp.engines.base import sampling_from
from hala_exp.io import write_jsonl
from hala_exp.shards import run_sharded
from hala_exp.translate import LazyEngine, combine_metrics, translate_rows


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    rows = [r for name, src in cfg.corpus.items() for r in load_instructions(src, name)]
    engine = LazyEngine(cfg.engine, inputs["model"], cfg.translator.dtype)
    params = sampling_from(cfg.engine, cfg.translator.max_new_tokens)
    try:
        translated, shards, ran = run_sharded(
            rows, cfg.engine.shard_rows, inputs.get("shards") or out / "shards",
            lambda chunk: translate_rows(engine.get(), chunk, cfg.translator.prompt, params),
            id_of=lambda r: (r["source"], r["id"]), desc="translate")  # ids are unique per source
    finally:
        engine.close()
    write_jsonl(out / "corpus.jsonl", translated)
    metrics = {**combine_metrics(shards), "shards": float(len(shards)), "shards_run": float(ran)}
    for name in cfg.corpus:
        metrics[f"rows.{name}"] = float(sum(r["source"] == name for r in translated))
    return metrics
