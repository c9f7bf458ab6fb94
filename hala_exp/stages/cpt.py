"""Continued pre-training on an Arabic/English mixture with the ratio as config.

Samples the mixture in tokens of the model's own tokenizer, trains a causal LM on the packed text,
logs loss and gradient norm at every step (curve.jsonl) and counts gradient spikes; held-out
Arabic and English losses show what the ratio buys and what it costs.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from omegaconf import DictConfig

from hala_exp.allam.mixture import sample_mixture, shares
from hala_exp.data.snapshot import snapshot_texts
from hala_exp.json_files import write_json, write_jsonl
from hala_exp.stages.declaration import StageInfo, Trains, plain
from hala_exp.training.batch import REMOVED


def eval_curve(metrics: dict[str, float]) -> list[dict[str, float]]:
    """Held-out loss per language by step, from `heldout.<lang>.loss_step<N>` (0: before training)."""
    rows: dict[int, dict[str, float]] = {}
    for k, v in metrics.items():
        parts = k.split(".")
        if parts[0] == "heldout" and len(parts) == 3 and parts[2].startswith("loss_step"):
            step = int(parts[2].removeprefix("loss_step"))
            rows.setdefault(step, {"step": float(step)})[parts[1]] = v
    return [rows[s] for s in sorted(rows)]


def _pool(inputs: dict[str, str], pool: str, sources: DictConfig) -> list[str]:
    """Every text of one pool's sources, from their snapshots (inputs `<pool>.<label>`)."""
    return [t for label in sources for t in snapshot_texts(inputs[f"{pool}.{label}"])]


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    from hala_exp.allam.spikes import count_spikes, grad_norm_rows
    from hala_exp.models.loading import load_tokenizer
    from hala_exp.training import from_config
    from hala_exp.training.cpt import CptHyper, train_cpt
    from hala_exp.training.distributed import is_main

    c = cfg.cpt
    targets = shares(c.ratio, c.use_translated, c.translated_fraction)
    pools = {"arabic": _pool(inputs, "arabic", c.arabic), "english": _pool(inputs, "english", c.english),
             "translated": _pool(inputs, "translated", c.translated) if c.use_translated else []}
    tokenizer = load_tokenizer(inputs["model"])

    def length(text: str) -> int:  # the trainer appends one EOS to each document
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1

    docs, stats = sample_mixture(pools, targets, c.tokens, length, c.seed)
    if is_main():  # every rank samples the same mixture; one writes it into the shared folder
        write_jsonl(out / "mixture.jsonl", docs)
    heldout = {lang: snapshot_texts(inputs[f"heldout.{lang}"]) for lang in c.heldout}
    hyper = from_config(CptHyper, {**c, "micro_batch": cfg.options.micro_batch})
    metrics, history = train_cpt(inputs["model"], [d["text"] for d in docs], heldout, out / "model", hyper)
    rows = grad_norm_rows(history)
    norms = [r["grad_norm"] for r in rows]
    spikes = count_spikes(norms, c.spike_threshold, c.spike_window)
    for i, r in enumerate(rows):
        r["spike"] = i in spikes
    if is_main():
        write_jsonl(out / "curve.jsonl", rows)
        write_jsonl(out / "eval_curve.jsonl", eval_curve(metrics))
        write_json(out / "mixture_stats.json", stats)
    metrics.update({f"mixture.{k}": v for k, v in stats.items()})
    metrics.update({"grad_spikes": float(len(spikes)),
                    "grad_norm_median": statistics.median(norms) if norms else float("nan"),
                    "grad_norm_max": max(norms) if norms else float("nan")})
    return metrics


def key_config(cfg: DictConfig) -> dict:
    """The whole group but the micro-batch (memory per device, handed over under `options`) and the
    removed batch settings (null once validated)."""
    return {"cpt": {k: v for k, v in plain(cfg.allam.cpt).items() if k not in ("micro_batch", *REMOVED)}}


DECLARED = (StageInfo("cpt", 3, "hala_exp.stages.cpt:run", key_config,
                      trains=Trains("model", "allam.cpt.bf16", batch="allam.cpt"),
                      headline=("train_loss",)),)
