"""Stage 5: the fine-tuned small translator turns the English instruction mix into Arabic.

Output `corpus.jsonl`: one row per source row, id and source kept, both languages side by side.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.sources import load_instructions
from hala_exp.engines.base import make_engine, sampling_from
from hala_exp.io import write_jsonl
from hala_exp.translate import translate_rows


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    rows = [r for name, src in cfg.corpus.items() for r in load_instructions(src, name)]
    engine = make_engine(cfg.engine, inputs["model"], cfg.translator.dtype)
    try:
        translated, metrics = translate_rows(engine, rows, cfg.translator.prompt,
                                             sampling_from(cfg.engine, cfg.translator.max_new_tokens))
    finally:
        engine.close()
    write_jsonl(out / "corpus.jsonl", translated)
    for name in cfg.corpus:
        metrics[f"rows.{name}"] = float(sum(r["source"] == name for r in translated))
    return metrics
