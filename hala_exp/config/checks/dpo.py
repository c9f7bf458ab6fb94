"""Checks of the preference stage and its pairs."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.checks.sources import check_source_data
from hala_exp.config.checks.training import check_batch
from hala_exp.config.errors import check_choice, fail
from hala_exp.data.sources import FORMATS


def check_dpo(cfg: DictConfig, check_data: bool) -> None:
    d = cfg.dpo
    if d.beta <= 0:
        fail("dpo.beta", d.beta, "must be positive", "use dpo.beta=0.1")
    check_batch("dpo", d)
    for f in ("learning_rate", "max_length"):
        if d[f] <= 0:
            fail(f"dpo.{f}", d[f], "must be positive", f"set dpo.{f} to a positive value")
    if d.max_steps == 0:
        fail("dpo.max_steps", d.max_steps, "training would do nothing", "set dpo.max_steps=-1 (one epoch) or more")
    src = d.preferences
    check_choice("dpo.preferences.format", src.format, FORMATS)
    if src.rows <= 0:
        fail("dpo.preferences.rows", src.rows, "must be positive", "set dpo.preferences.rows to at least 1")
    if check_data:
        check_source_data("dpo.preferences", src)
