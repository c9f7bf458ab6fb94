"""Numbers, tables and trainer callbacks a stage hands to whoever records the step it runs in.

A neutral hook like `hala_exp.progress`: stages report unconditionally and never know who listens.
The pipeline attaches a sink (the step's W&B run, `hala_exp.tracking.stage_reports`) in the process that
runs the stage; with none attached every call is a no-op and nothing of a tracker is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Sink(Protocol):
    """What the process running a stage records its reports into."""

    def log(self, metrics: dict[str, float], step: int | None, axis: str | None) -> None: ...

    def table(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def trainer_callbacks(self) -> list[Any]: ...


_sinks: list[Sink] = []


def attach(sink: Sink) -> None:
    _sinks.append(sink)


def detach(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def active() -> bool:
    """Whether anything listens: lets a stage skip building a report nobody will see."""
    return bool(_sinks)


def log(metrics: dict[str, float], step: int | None = None, axis: str | None = None) -> None:
    """Record `metrics` at `step` (increasing within a step; None: the next one). `axis` names the
    key in `metrics` that charts of the same prefix should use as their x axis (e.g. rows done)."""
    for sink in list(_sinks):
        sink.log(metrics, step, axis)


def table(name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Record a small table (per-task scores, a few sample rows)."""
    for sink in list(_sinks):
        sink.table(name, columns, rows)


def trainer_callbacks() -> list[Any]:
    """Extra Hugging Face `TrainerCallback`s that log a training run's curves to the attached sinks."""
    return [cb for sink in _sinks for cb in sink.trainer_callbacks()]
