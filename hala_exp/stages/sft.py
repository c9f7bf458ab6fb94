"""Stage 6: fine-tune the student on the Arabic instruction mix (translated instruction -> response)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.io import read_jsonl
from hala_exp.text import has_arabic
from hala_exp.training.sft import Hyper, pair, train_sft


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    corpus = read_jsonl(inputs["corpus"])
    rows = [pair(r["instr_ar"], r["resp_ar"]) for r in corpus if r["instr_ar"] and r["resp_ar"]]
    m = cfg.model
    metrics = train_sft(inputs["model"], rows, out / "model",
                        Hyper(m.learning_rate, m.batch_size, m.grad_accum, m.max_length), cfg.train,
                        checkpoints=Path(inputs["checkpoints"]) if inputs.get("checkpoints") else None)
    metrics["rows_with_arabic"] = float(sum(has_arabic(r["instr_ar"]) for r in corpus))
    return metrics


def run_sources(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """SFT on instruction/response sources read directly (the ALLaM recipe has no translation chain)."""
    from hala_exp.data.sources import load_instructions

    rows = [pair(r["instruction"], r["response"])
            for name, src in cfg.sources.items() for r in load_instructions(src, name)
            if r["instruction"].strip() and r["response"].strip()]
    m = cfg.model
    metrics = train_sft(inputs["model"], rows, out / "model",
                        Hyper(m.learning_rate, m.batch_size, m.grad_accum, m.max_length), cfg.train)
    metrics["rows_with_arabic"] = float(sum(has_arabic(r["completion"][0]["content"]) for r in rows))
    return metrics
