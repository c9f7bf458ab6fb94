"""A running stage's reports (`hala_exp.reporting`) recorded into its step's W&B run.

Curves are logged at an explicit step (the trainer's global step, the rows done), and each step at
most once across the attempts of one step key: the last step logged is kept in the store beside
the run id, so an attempt that resumes (a requeued job, a rerun after a kill) drops the steps an
earlier attempt already logged and continues the curve where it ended, offline as well as online.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hala_exp.io import replace_text

log = logging.getLogger("hala_exp")


class Curve:
    """The last explicit step this run logged, over all attempts (`path` outlives each of them)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.before = self._read()  # logged by earlier attempts: never again
        self.last = -1  # logged by this attempt: the same step again merges into its row

    def _read(self) -> int:
        try:
            return int(json.loads(self.path.read_text(encoding="utf-8"))["last_step"])
        except (OSError, ValueError, KeyError):
            return -1

    def admit(self, step: int) -> bool:
        return step > self.before and step >= self.last

    def logged(self, step: int) -> None:
        if step > self.last:
            self.last = step
            self.path.parent.mkdir(parents=True, exist_ok=True)
            replace_text(self.path, json.dumps({"last_step": step}))


class RunSink:
    """`hala_exp.reporting.Sink` for one W&B run, attached while its step's stage runs."""

    def __init__(self, run: Any, curve_file: Path):
        self.run = run
        self.curve = Curve(curve_file)
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
