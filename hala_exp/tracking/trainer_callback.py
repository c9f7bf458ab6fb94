"""Transformers' own `WandbCallback`, logging into the W&B run the pipeline opened for the step.

Steps open their runs with `reinit="create_new"`, which leaves the global `wandb.run` unset, so the
callback gets a stand-in for the `wandb` module bound to the step's run: its `log` goes through the
step's sink (at the trainer's `train/global_step`, each step once across attempts) and its config
updates (TrainingArguments, the model config) land under `trainer.*`, flattened, secrets dropped.
Everything else (`rewrite_logs`, `train/global_step` as the x axis, summaries) is the library's.

A run resumed from a checkpoint first replays the checkpoint's own log (`log_history`, which holds
every logging step up to it) for the steps the run's history lacks: an attempt killed before its
W&B service wrote them loses no part of the curve.
"""

from __future__ import annotations

from typing import Any

from transformers.integrations import WandbCallback
from transformers.integrations.integration_utils import rewrite_logs

from hala_exp.tracking.context import flatten
from hala_exp.tracking.secrets import scrub

PREFIX = "trainer"
# What WandbCallback puts in the summary instead of the history (train_runtime: the session's).
SUMMARY_ONLY = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")


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


class RunCallback(WandbCallback):
    """WandbCallback, plus the replay of a resumed run's checkpointed log."""

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        super().on_train_begin(args, state, control, model=model, **kwargs)
        if not state.is_world_process_zero or state.global_step == 0:
            return
        for row in state.log_history:  # in step order; the sink drops the steps the run already has
            step = row.get("step")
            if step is not None and step <= state.global_step:
                logs = {k: v for k, v in row.items() if k != "step" and k not in SUMMARY_ONLY}
                self._wandb.log({**rewrite_logs(logs), "train/global_step": step})


def run_callback(sink: Any) -> RunCallback:
    """A WandbCallback whose every call reaches `sink.run`."""
    callback = RunCallback()
    callback._wandb = BoundWandb(sink)
    return callback
