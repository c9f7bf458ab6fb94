"""Stage 2: the (FP8) teacher translates Orca pairs, question and response, EN->AR.

Output `tuples.jsonl`: <instr_en, instr_ar, resp_en, resp_ar> with the source row's id.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.sources import load_instructions
from hala_exp.engines.base import make_engine, sampling_from
from hala_exp.io import write_jsonl
from hala_exp.translate import translate_rows


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    rows = load_instructions(cfg.source, "bootstrap")  # before the model: bad columns fail fast
    engine = make_engine(cfg.engine, inputs["model"], cfg.teacher.dtype)
    try:
        tuples, metrics = translate_rows(engine, rows, cfg.teacher.prompt,
                                         sampling_from(cfg.engine, cfg.teacher.max_new_tokens))
    finally:
        engine.close()
    write_jsonl(out / "tuples.jsonl", tuples)
    return metrics
