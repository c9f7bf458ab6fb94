"""DPO after SFT (TRL DPOTrainer) on preference pairs (prompt / chosen / rejected)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.sources import get_field, iter_raw
from hala_exp.training import from_config
from hala_exp.training.dpo import DpoHyper, conversational, train_dpo


def load_pairs(src: DictConfig) -> list[dict]:
    rows = []
    for r in iter_raw(src):
        prompt, chosen, rejected = (str(get_field(r, src[f])).strip()
                                    for f in ("prompt_field", "chosen_field", "rejected_field"))
        if prompt and chosen and rejected and chosen != rejected:
            rows.append(conversational(prompt, chosen, rejected))
    return rows


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    d = cfg.dpo
    rows = load_pairs(d.preferences)
    hyper = from_config(DpoHyper, d)
    return train_dpo(inputs["model"], rows, out / "model", hyper)
