"""Transformers' own `WandbCallback`, logging into the W&B run the pipeline opened for the step.

Steps open their runs with `reinit="create_new"`, which leaves the global `wandb.run` unset, so the
callback gets a stand-in for the `wandb` module bound to the step's run: its `log` goes through the
step's sink (at the trainer's `train/global_step`, each step once across attempts) and its config
updates (TrainingArguments, the model config) land under `trainer.*`, flattened, secrets dropped.
Everything else (`rewrite_logs`, `train/global_step` as the x axis, summaries) is the library's.
"""

from __future__ import annotations

from typing import Any

from hala_exp.tracking.context import flatten
from hala_exp.tracking.secrets import scrub

PREFIX = "trainer"


class TrainerConfig:
    """`wandb.config` as WandbCallback uses it (update, item assignment, get), under `trainer.`."""

    def __init__(self, run: Any):
        self.run = run

    def update(self, values: dict[str, Any], allow_val_change: bool = True) -> None:
        self.run.config.update(scrub(flatten({PREFIX: dict(values)})), allow_val_change=True)

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def get(self, key: str, default: Any = None) -> Any:
        return self.run.config.get(f"{PREFIX}.{key}", default)


class BoundWandb:
    """The parts of the `wandb` module WandbCallback calls, bound to one run; the rest is the module's."""

    def __init__(self, sink: Any):
        import wandb

        self._module = wandb
        self._sink = sink
        self.run = sink.run
        self.config = TrainerConfig(sink.run)

    def log(self, data: dict[str, Any], **_: Any) -> None:
        step = data.get("train/global_step")
        self._sink.log(data, None if step is None else int(step))

    def __getattr__(self, name: str) -> Any:  # define_metric, summary, watch, log_artifact; Artifact, termwarn
        return getattr(self.run, name) if hasattr(self.run, name) else getattr(self._module, name)


def run_callback(sink: Any) -> Any:
    """A WandbCallback whose every call reaches `sink.run`."""
    from transformers.integrations import WandbCallback

    callback = WandbCallback()
    callback._wandb = BoundWandb(sink)
    return callback
