"""DPO after SFT (TRL DPOTrainer) on preference pairs (prompt / chosen / rejected)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.snapshot import iter_snapshot
from hala_exp.stages.declaration import StageInfo, Trains, pick
from hala_exp.training import from_config
from hala_exp.training.dpo import DpoHyper, conversational, train_dpo


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    """DPO on the preference snapshot (`inputs["preferences"]`, rows checked and normalised)."""
    d = cfg.dpo
    rows = [conversational(r["prompt"], r["chosen"], r["rejected"]) for r in iter_snapshot(inputs["preferences"])]
    hyper = from_config(DpoHyper, {**d, "micro_batch": cfg.options.micro_batch})
    return train_dpo(inputs["model"], rows, out / "model", hyper)


def key_config(cfg: DictConfig) -> dict:
    return {"dpo": pick(cfg.dpo, "preferences", "beta", "loss_type", "learning_rate", "global_batch",
                        "max_length", "max_steps", "use_cpu", "bf16", "seed")}


DECLARED = (StageInfo("dpo", 2, "hala_exp.stages.dpo:run", key_config,
                      trains=Trains("model", "dpo.bf16", batch="dpo"),
                      headline=("margin_after", "train_loss")),)
