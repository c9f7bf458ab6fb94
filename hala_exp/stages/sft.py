"""Stage 6: fine-tune the student on the Arabic instruction mix (translated instruction -> response).

`arabic_ratio` (data.mix.arabic_ratio; null = Arabic only, the paper) trains that share of the
corpus rows in Arabic and the others in their English originals, for ALLaM-style ratio ablations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from hala_exp.data.mix import arabic_rows
from hala_exp.io import read_jsonl
from hala_exp.stages.info import StageInfo, Trains, pick, plain, train_with
from hala_exp.text import has_arabic
from hala_exp.training.sft import Hyper, pair, train_sft

if TYPE_CHECKING:
    import numpy as np


def training_rows(corpus: list[dict], arabic_ratio: float | None, seed: int) -> tuple[list[dict], np.ndarray]:
    """Prompt-completion rows from translated corpus rows, each in Arabic or in its English original."""
    arabic = arabic_rows(len(corpus), arabic_ratio, seed)
    rows = [pair(r["instr_ar"], r["resp_ar"]) if ar else pair(r["instr_en"], r["resp_en"])
            for r, ar in zip(corpus, arabic)]
    return rows, arabic


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    corpus = [r for r in read_jsonl(inputs["corpus"]) if r["instr_ar"] and r["resp_ar"]]
    rows, arabic = training_rows(corpus, cfg.arabic_ratio, cfg.seed)
    m = cfg.model
    metrics = train_sft(inputs["model"], rows, out / "model",
                        Hyper(m.learning_rate, m.batch_size, m.grad_accum, m.max_length), cfg.train,
                        checkpoints=Path(inputs["checkpoints"]) if inputs.get("checkpoints") else None)
    metrics["rows_with_arabic"] = float(sum(has_arabic(r["instr_ar"]) for r in corpus))
    metrics["rows_arabic"], metrics["rows_english"] = float(arabic.sum()), float((~arabic).sum())
    return metrics


def run_sources(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """SFT on instruction/response sources read directly (the ALLaM recipe has no translation chain)."""
    from hala_exp.data.chat import to_instruction
    from hala_exp.data.snapshot import iter_snapshot

    rows = [pair(r["instruction"], r["response"])
            for name in cfg.sources for r in map(to_instruction, iter_snapshot(inputs[f"source.{name}"]))
            if r["instruction"].strip() and r["response"].strip()]
    m = cfg.model
    metrics = train_sft(inputs["model"], rows, out / "model",
                        Hyper(m.learning_rate, m.batch_size, m.grad_accum, m.max_length), cfg.train,
                        checkpoints=Path(inputs["checkpoints"]) if inputs.get("checkpoints") else None)
    metrics["rows_with_arabic"] = float(sum(has_arabic(r["completion"][0]["content"]) for r in rows))
    return metrics


def _student(cfg: DictConfig) -> dict:
    return {"model": pick(cfg.model, "learning_rate", "batch_size", "grad_accum", "max_length"),
            "train": train_with(cfg.train, cfg.model.train)}


def _arabic_ratio(ratio: float | None) -> float | None:
    """null and 1.0 both mean an all-Arabic SFT set: one key, so the default run is reused."""
    return None if ratio is None or ratio >= 1.0 else float(ratio)


def key_config(cfg: DictConfig) -> dict:
    return {**_student(cfg), "arabic_ratio": _arabic_ratio(cfg.data.mix.arabic_ratio), "seed": cfg.data.seed}


def sources_config(cfg: DictConfig, sources: DictConfig) -> dict:
    return {**_student(cfg), "sources": plain(sources)}


DECLARED = (StageInfo("sft", 1, "hala_exp.stages.sft:run", key_config, partial="checkpoints",
                      trains=Trains("model", "train.bf16")),
            StageInfo("sft_sources", 1, "hala_exp.stages.sft:run_sources", sources_config, partial="checkpoints",
                      trains=Trains("model", "train.bf16")))
