"""Stage 2: the (FP8) teacher translates Orca pairs, question and response, EN->AR.

Output `tuples.jsonl`: <instr_en, instr_ar, resp_en, resp_ar> with the source row's id, for the
tuples that pass the quality gates; `rejected.jsonl`: the others, each with its reasons. Rows go
through in shards of `engine.shard_rows` committed to `inputs["shards"]`, so a killed job resumes.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.adapters import Counts, iter_chat
from hala_exp.data.chat import to_instruction
from hala_exp.data.gates import apply_gates
from hala_exp.engines.base import sampling_from
from hala_exp.io import write_jsonl
from hala_exp.shards import run_sharded
from hala_exp.translate import LazyEngine, combine_metrics, translate_rows


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    counts = Counts()
    rows = [to_instruction(r) for r in iter_chat(cfg.source, "bootstrap", counts)]  # before the model
    engine = LazyEngine(cfg.engine, inputs["model"], cfg.teacher.dtype)
    params = sampling_from(cfg.engine, cfg.teacher.max_new_tokens)
    try:
        tuples, shards, ran = run_sharded(
            rows, cfg.engine.shard_rows, inputs["shards"],
            lambda chunk: translate_rows(engine.get(), chunk, cfg.teacher.prompt, params), desc="translate")
    finally:
        engine.close()
    passed, rejected, gate_metrics = apply_gates(tuples, cfg.teacher.prompt, cfg.gates)
    write_jsonl(out / "tuples.jsonl", passed)
    write_jsonl(out / "rejected.jsonl", rejected)
    return {**combine_metrics(shards), "shards": float(len(shards)), "shards_run": float(ran),
            **gate_metrics, **counts.as_metrics("source.bootstrap")}
