"""Checks of `recipe=compare`: the checkpoints under test and how they are evaluated."""

from __future__ import annotations

import re

from omegaconf import DictConfig

from hala_exp.config.checks.engine import check_generation
from hala_exp.config.checks.eval import check_eval
from hala_exp.config.checks.sources import check_rows, check_source_data
from hala_exp.config.errors import fail

LABEL = re.compile(r"^[A-Za-z0-9_-]+$")  # a step name part: `evaluate.<label>.<metric>` splits on dots


def check_systems(cfg: DictConfig, check_data: bool) -> None:
    s = cfg.systems
    if not s.models and not s.translators:
        fail("systems", s.name, "lists no checkpoint, so recipe=compare has nothing to evaluate",
             "use systems=hala_released, or give systems.models / systems.translators")
    if s.models and not cfg.eval.lighteval.tasks:
        fail("eval.lighteval.tasks", [], "is empty, so systems.models would not be evaluated",
             "use eval=oall (the paper's Table 1 suite)")
    seen: dict[str, str] = {}
    for group in ("models", "translators"):
        for i, system in enumerate(s[group]):
            key = f"systems.{group}.{i}"
            if not LABEL.match(system.label):
                fail(f"{key}.label", system.label, "names the step evaluate.<label> and may hold only letters, "
                     "digits, _ and -", f"use {re.sub(r'[^A-Za-z0-9_-]', '_', system.label)!r}")
            if system.label in seen:
                fail(f"{key}.label", system.label, f"is also {seen[system.label]}'s label: each names one step",
                     "give each checkpoint its own label")
            seen[system.label] = key
            if group == "translators" and system.prompt is not None and "{text}" not in system.prompt:
                fail(f"{key}.prompt", system.prompt, "has no {text} placeholder", "add {text} where the English goes")
    check_generation(cfg, ("eval.translation",))
    if cfg.eval.translation.n <= 0:
        fail("eval.translation.n", cfg.eval.translation.n, "must be positive", "set eval.translation.n=500")
    check_eval(cfg.eval, check_data)
    if s.translators and not cfg.eval.translation.get("mmlu"):
        check_rows("eval.translation.source", cfg.eval.translation.source)
        if check_data:
            check_source_data("eval.translation.source", cfg.eval.translation.source)
