"""Training metrics over the whole run, also when it resumed from a checkpoint.

Trainer's `training_loss` divides the losses summed *since this process started* by `global_step`,
so a run resumed at step k reports a loss that misses steps 1..k. The losses before k are in the
checkpoint's `trainer_state.json` (`log_history`, one interval mean per logging step), but only up
to the last logging step before k. `WholeRun` makes Trainer also log at every save, so each
checkpoint ends on a logged interval; the whole-run sum is then the logged intervals up to the
resume step (mean x length) plus what this process summed, which is exact up to float rounding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

log = logging.getLogger("hala_exp")


def logged_losses(history: Sequence[dict[str, Any]], upto: int | None = None) -> list[tuple[int, int, float]]:
    """(first step, last step, mean loss) of each logged training interval ending at or before `upto`.

    Training logs are the rows with a "loss" key (eval rows carry "eval_loss", the final summary
    "train_loss"); each covers the steps since the previous training log.
    """
    out, prev = [], 0
    for row in history:
        if "loss" not in row or (upto is not None and row["step"] > upto):
            continue
        step = int(row["step"])
        if step > prev:
            out.append((prev + 1, step, float(row["loss"])))
            prev = step
    return out


class WholeRun(TrainerCallback):
    """Logs at every checkpoint, and remembers what the checkpoint a run resumed from had summed."""

    def __init__(self) -> None:
        self.start_step = 0  # global_step this process started at (the checkpoint's, or 0)
        self.loss_before = 0.0  # sum of per-step losses of steps 1..covered_before
        self.covered_before = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start_step = int(state.global_step)
        intervals = logged_losses(state.log_history, self.start_step)
        self.loss_before = sum(mean * (last - first + 1) for first, last, mean in intervals)
        self.covered_before = intervals[-1][1] if intervals else 0
        if self.covered_before < self.start_step:  # a checkpoint written without this callback
            log.warning("resumed at step %d, but its log ends at step %d: train_loss leaves out steps %d-%d",
                        self.start_step, self.covered_before, self.covered_before + 1, self.start_step)

    def _log_with_save(self, control: Any) -> None:
        if control.should_save:
            control.should_log = True  # the checkpoint's log_history then covers every step up to it

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._log_with_save(control)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._log_with_save(control)

    def train_loss(self, training_loss: float, global_step: int) -> float:
        """The whole run's mean per-step loss, from this process's `TrainOutput.training_loss`."""
        since_start = training_loss * global_step  # Trainer: (sum since start_step) / global_step
        steps = self.covered_before + (global_step - self.start_step)
        return (self.loss_before + since_start) / steps if steps > 0 else float("nan")


def train_metrics(whole: WholeRun, result: Any, history: Sequence[dict[str, Any]]) -> dict[str, float]:
    """train_loss, steps and the first / last logged loss, all over the whole run.

    `result` is `trainer.train()`'s TrainOutput; `history` is `trainer.state.log_history`, which a
    resumed run reloads from its checkpoint, so the per-interval values span every attempt.
    """
    steps = int(result.global_step)
    losses = [mean for _, _, mean in logged_losses(history)]
    return {"train_loss": whole.train_loss(float(result.training_loss), steps), "steps": float(steps),
            "resumed_at_step": float(whole.start_step),
            "first_loss": losses[0] if losses else float("nan"),
            "last_loss": losses[-1] if losses else float("nan")}
