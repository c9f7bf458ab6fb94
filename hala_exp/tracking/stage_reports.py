"""A running stage's reports (`hala_exp.stage_records`) recorded into its step's W&B run.

Curves are logged at an explicit step (the trainer's global step, the rows done), and each step at
most once across the attempts of one step key: an attempt that resumes (a requeued job, a rerun
after a kill) drops the steps earlier attempts' history already holds (`resumed.history_end`) and
continues the curve where it ends, offline as well as online.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from hala_exp.tracking.resumed import history_end

log = logging.getLogger("hala_exp")


class Curve:
    """Which explicit steps this attempt may log: past where earlier attempts' history ends, and never
    below a step it logged itself (the same step again merges into that step's row)."""

    def __init__(self, before: int):
        self.before = before
        self.last = -1

    def admit(self, step: int) -> bool:
        return step > self.before and step >= self.last

    def logged(self, step: int) -> None:
        self.last = max(self.last, step)


class RunSink:
    """`hala_exp.stage_records.Sink` for one W&B run, attached while its step's stage runs."""

    def __init__(self, run: Any):
        self.run = run
        self.curve = Curve(history_end(run))
        self._axes: set[str] = set()

    def log(self, metrics: dict[str, float], step: int | None = None, axis: str | None = None) -> None:
        if axis and axis not in self._axes:
            self._axes.add(axis)
            prefix = axis.rsplit("/", 1)[0] if "/" in axis else ""
            self.run.define_metric(axis)
            self.run.define_metric(f"{prefix}/*" if prefix else "*", step_metric=axis)
        if step is None:
            self.run.log(dict(metrics))
            return
        if not self.curve.admit(step):
            log.debug("W&B: step %d already logged by an earlier attempt, not again", step)
            return
        self.run.log(dict(metrics), step=step)
        self.curve.logged(step)

    def table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        import wandb

        self.run.log({name: wandb.Table(columns=list(columns), data=[list(r) for r in rows])})

    def trainer_callbacks(self) -> list[Any]:
        from hala_exp.tracking.trainer_callback import run_callback

        return [run_callback(self)]
