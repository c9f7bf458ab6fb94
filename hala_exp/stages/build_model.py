"""Build a tiny model in code, optionally warmed up so a tiny teacher or judge does its job.

The warm-up is a short SFT on the bundled Tatoeba pairs: `translate` teaches EN->AR under each of
the given prompts; `judge` teaches accept for aligned pairs and reject for mismatched ones.
"""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.data.samples_text import sample_texts
from hala_exp.stages.declaration import StageInfo, pick
from hala_exp.training.sft import Hyper, pair, train_sft

WARMUP_TRAIN = {"name": "warmup", "epochs": 1.0, "max_steps": -1, "warmup_ratio": 0.0,
                "lr_scheduler": "constant", "weight_decay": 0.0, "packing": False,
                "completion_only_loss": True, "use_cpu": True, "bf16": False,
                "gradient_checkpointing": False, "logging_steps": 10, "seed": 0}


def _tatoeba(rows: int) -> list[dict[str, str]]:
    with open(SAMPLES_DIR / "tatoeba_ara_eng/sample.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:rows]


def warmup_rows(kind: str, prompts: list[str], rows: int, seed: int) -> list[dict]:
    pairs = _tatoeba(rows)
    if kind == "translate":
        return [pair(prompts[i % len(prompts)].format(text=p["en"]), p["ar"]) for i, p in enumerate(pairs)]
    if kind == "judge":
        rng = random.Random(seed)
        shuffled = pairs[:]
        rng.shuffle(shuffled)
        out = []
        for p, q in zip(pairs, shuffled):
            out.append(pair(prompts[0].format(ar_text=p["ar"], en_text=p["en"]), "accept"))
            if q["en"] != p["en"]:
                out.append(pair(prompts[0].format(ar_text=p["ar"], en_text=q["en"]), "reject"))
        rng.shuffle(out)
        return out
    raise ValueError(f"tiny.warmup = {kind!r}: use none, translate or judge")


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    from hala_exp.models.tiny import save_tiny

    m = cfg.model
    t = m.tiny
    target = out / "model"
    init = out / "init" if t.warmup != "none" else target
    metrics = save_tiny(init, arch=t.arch, texts=sample_texts(), vocab_size=t.vocab_size,
                        hidden_size=t.hidden_size, layers=t.layers, heads=t.heads,
                        intermediate_size=t.intermediate_size, max_position=t.max_position, seed=t.seed)
    if t.warmup != "none":
        rows = warmup_rows(t.warmup, list(cfg.prompts), t.warmup_rows, t.seed)
        hyper = Hyper(m.learning_rate, m.global_batch, cfg.options.micro_batch, m.max_length,
                      cfg.options.group)
        train = OmegaConf.create({**WARMUP_TRAIN, "seed": t.seed})
        warm = train_sft(str(init), rows, target, hyper, train, max_steps=t.warmup_steps)
        metrics.update({f"warmup.{k}": v for k, v in warm.items()})
        shutil.rmtree(init)
    return metrics


def key_config(cfg: DictConfig, group: str, prompts: list[str]) -> dict:
    """The tiny model's shape; the trainer settings and prompts its warm-up uses only with a warm-up
    (without one they change nothing it writes)."""
    m = cfg[group]
    if m.tiny.warmup == "none":
        return {"model": pick(m, "name", "tiny", "dtype")}
    return {"model": pick(m, "name", "tiny", "learning_rate", "global_batch", "max_length", "dtype"),
            "prompts": list(prompts)}


def _model_gb(cfg: DictConfig, group: str, prompts: list[str]) -> float | None:
    """The built model in its dtype, when the group states its size (`params_b`)."""
    from hala_exp.merging.memory import dtype_bytes

    m = cfg[group]
    return None if m.get("params_b") is None else float(m.params_b) * dtype_bytes(m.dtype)


def _options(cfg: DictConfig, group: str, prompts: list[str]) -> dict:
    """The warm-up's micro-batch (memory, not weights: out of the key) and the group it trains, for errors."""
    return {"micro_batch": int(cfg[group].micro_batch), "group": group}


DECLARED = (StageInfo("build_model", 1, "hala_exp.stages.build_model:run", key_config, options=_options,
                      writes_gb=_model_gb, gpus="none", headline=("warmup.train_loss", "parameters")),)
