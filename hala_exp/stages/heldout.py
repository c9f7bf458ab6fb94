"""Evaluate any system by its mean token loss per language on held-out text (eval.heldout)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.snapshot import snapshot_texts
from hala_exp.json_files import write_json
from hala_exp.stages.declaration import StageInfo, pick, plain


def run(cfg: DictConfig, inputs: dict[str, str], out: Path) -> dict[str, float]:
    from hala_exp.evaluation.heldout import heldout_loss
    from hala_exp.models.loading import load_causal_lm, load_tokenizer, pick_device

    h = cfg.heldout
    texts = {lang: snapshot_texts(inputs[f"text.{lang}"]) for lang in h.texts}
    tokenizer = load_tokenizer(inputs["model"])
    model = load_causal_lm(inputs["model"], pick_device(cfg.engine.device), cfg.engine.dtype)
    scores = {lang: heldout_loss(model, tokenizer, ts, h.batch_size, h.max_length) for lang, ts in texts.items()}
    write_json(out / "heldout.json", scores)
    return {f"{lang}.{k}": v for lang, s in scores.items() for k, v in s.items()}


def key_config(cfg: DictConfig) -> dict:
    return {"heldout": plain(cfg.eval.heldout), "engine": pick(cfg.engine, "device", "dtype")}


DECLARED = (StageInfo("evaluate_heldout", 2, "hala_exp.stages.heldout:run", key_config,
                      headline=("*.loss",)),)
