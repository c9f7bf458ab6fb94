"""Stage 4: SFT a small model into an EN->AR translator.

Training set: each gate-passing Orca tuple gives two pairs (instruction, response), plus every
judge-accepted pair; shuffled with the data seed; chat-style with the translator's own prompt.
"""

from __future__ import annotations

import random
from pathlib import Path

from omegaconf import DictConfig

from hala_exp.arabic_text import has_arabic
from hala_exp.json_files import read_jsonl
from hala_exp.stages.declaration import StageInfo, Trains, pick, train_with
from hala_exp.training.sft import Hyper, pair, train_sft


def training_pairs(tuples: list[dict], accepted: list[dict]) -> tuple[list[tuple[str, str]], int]:
    """(en, ar) pairs; teacher outputs without Arabic script are left out and counted."""
    pairs = []
    for t in tuples:
        pairs += [(t["instr_en"], t["instr_ar"]), (t["resp_en"], t["resp_ar"])]
    pairs += [(a["en"], a["ar"]) for a in accepted]
    kept = [(en, ar) for en, ar in pairs if has_arabic(ar)]
    return kept, len(pairs) - len(kept)


def training_set(tuples: list[dict], accepted: list[dict], prompt: str, seed: int) -> tuple[list[dict], int]:
    """Prompt-completion chat rows in a seeded order, and how many pairs had no Arabic."""
    pairs, dropped = training_pairs(tuples, accepted)
    random.Random(seed).shuffle(pairs)
    return [pair(prompt.format(text=en), ar) for en, ar in pairs], dropped


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    tuples, accepted = read_jsonl(inputs["tuples"]), read_jsonl(inputs["accepted"])
    rows, dropped = training_set(tuples, accepted, cfg.translator.prompt, cfg.seed)
    t = cfg.translator
    hyper = Hyper(t.learning_rate, t.global_batch, cfg.options.micro_batch, t.max_length, "translator")
    metrics = train_sft(inputs["model"], rows, out / "model", hyper, cfg.train,
                        checkpoints=Path(inputs["checkpoints"]) if inputs.get("checkpoints") else None)
    metrics.update({"dropped_without_arabic": float(dropped), "pairs": float(len(rows)),
                    "pairs_from_tuples": float(2 * len(tuples)), "pairs_accepted": float(len(accepted))})
    return metrics


def key_config(cfg: DictConfig) -> dict:
    return {"translator": pick(cfg.translator, "prompt", "learning_rate", "global_batch", "max_length"),
            "train": train_with(cfg.train, cfg.translator.train), "seed": cfg.data.seed}


DECLARED = (StageInfo("train_translator", 3, "hala_exp.stages.train_translator:run", key_config,
                      partial="checkpoints", trains=Trains("translator", "train.bf16", "translator"),
                      headline=("train_loss",)),)
