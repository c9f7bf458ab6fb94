"""Checkpoints evaluated as they are (`recipe=compare`): each of `systems.models` on the lighteval
suite, each of `systems.translators` by the translation protocol, and held-out loss where
`eval.heldout` has texts. Nothing is trained, so a released model is compared with the paper's
number for it without re-running the recipe that made it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from hala_exp.recipes.common import heldout, lighteval
from hala_exp.recipes.graph import Builder, Ref, Step


def checkpoint(system: Mapping[str, Any]) -> str:
    """The step input naming the checkpoint: `id`, or `id@revision` (as `model.revision` gives);
    a system as config or as the plain dict a run record holds."""
    return system["id"] if not system.get("revision") else f"{system['id']}@{system['revision']}"


def build(cfg: DictConfig) -> list[Step]:
    b = Builder(cfg)
    models: dict[str, Ref | str] = {s.label: checkpoint(s) for s in cfg.systems.models}
    lighteval(b, models)
    translators = {s.label: checkpoint(s) for s in cfg.systems.translators}
    pairs: dict[str, Ref] = {}
    if translators and not cfg.eval.translation.get("mmlu"):
        pairs["source"] = b.source("translation", "eval.translation.source", "parallel", cfg.eval.translation.source,
                                   "translation")
    for s in cfg.systems.translators:
        b.add(f"evaluate.{s.label}", "evaluate_translation", {"model": translators[s.label], **pairs}, s.label,
              s.prompt or cfg.eval.translation.prompt, s.dtype)
    heldout(b, {**models, **translators})
    return b.steps
