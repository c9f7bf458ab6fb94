"""Stage 2: the (FP8) teacher translates Orca pairs, question and response, EN->AR.

Output `tuples.jsonl`: <instr_en, instr_ar, resp_en, resp_ar> with the source row's id. Rows go
through in shards of `engine.shard_rows` committed to `inputs["shards"]`, so a killed job resumes.
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
    rows = load_instructions(cfg.source, "bootstrap")  # before the model: bad columns fail fast
    engine = LazyEngine(cfg.engine, inputs["model"], cfg.teacher.dtype)
    params = sampling_from(cfg.engine, cfg.teacher.max_new_tokens)
    try:
        tuples, shards, ran = run_sharded(
            rows, cfg.engine.shard_rows, inputs.get("shards") or out / "shards",
            lambda chunk: translate_rows(engine.get(), chunk, cfg.teacher.prompt, params), desc="translate")
    finally:
        engine.close()
    write_jsonl(out / "tuples.jsonl", tuples)
    return {**combine_metrics(shards), "shards": float(len(shards)), "shards_run": float(ran)}
