"""Whole-run training loss rebuilt from a checkpoint's log_history plus what the resumed process summed."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from transformers import TrainerControl

from hala_exp.training.run_metrics import WholeRun, logged_losses, train_metrics

# Per-step losses of a 6-step run; logging every 3 steps, checkpoints every 2 (logged there too).
LOSSES = [6.0, 5.0, 4.5, 4.0, 3.0, 2.5]
HISTORY = [{"loss": 5.5, "grad_norm": 1.0, "step": 2}, {"loss": 4.5, "step": 3}, {"eval_loss": 9.0, "step": 3},
           {"loss": 4.0, "step": 4}, {"loss": 2.75, "step": 6}, {"train_loss": 1.0, "step": 6}]


def _begin(history: list[dict], step: int) -> WholeRun:
    whole = WholeRun()
    whole.on_train_begin(None, SimpleNamespace(global_step=step, log_history=history), TrainerControl())
    return whole


def test_intervals_are_the_training_logs_only():
    assert logged_losses(HISTORY) == [(1, 2, 5.5), (3, 3, 4.5), (4, 4, 4.0), (5, 6, 2.75)]
    assert logged_losses(HISTORY, upto=4) == [(1, 2, 5.5), (3, 3, 4.5), (4, 4, 4.0)]


def test_a_resumed_process_reports_the_whole_runs_mean():
    whole = _begin([r for r in HISTORY if r["step"] <= 4], step=4)  # the checkpoint-4 state
    trainer_loss = sum(LOSSES[4:]) / 6  # Trainer: the losses since the resume, over all steps
    result = SimpleNamespace(global_step=6, training_loss=trainer_loss)
    m = train_metrics(whole, result, HISTORY)
    assert m["train_loss"] == pytest.approx(sum(LOSSES) / 6, rel=1e-12)
    assert m["train_loss"] != pytest.approx(trainer_loss)
    assert (m["steps"], m["resumed_at_step"], m["first_loss"], m["last_loss"]) == (6, 4, 5.5, 2.75)


def test_an_uninterrupted_run_keeps_trainers_own_loss():
    result = SimpleNamespace(global_step=6, training_loss=sum(LOSSES) / 6)
    assert train_metrics(_begin([], 0), result, HISTORY)["train_loss"] == pytest.approx(sum(LOSSES) / 6, rel=1e-15)


def test_a_save_step_is_also_a_logging_step():
    control = TrainerControl(should_save=True)
    WholeRun().on_step_end(None, None, control)
    assert control.should_log
    quiet = TrainerControl()
    WholeRun().on_step_end(None, None, quiet)
    assert not quiet.should_log


def test_a_checkpoint_whose_log_ends_early_is_reported_and_its_gap_left_out(caplog):
    with caplog.at_level(logging.WARNING, logger="hala_exp"):
        whole = _begin([{"loss": 5.5, "step": 2}], step=4)  # logged at 2, saved at 4: steps 3-4 unknown
    assert "leaves out steps 3-4" in caplog.text
    # steps 1-2 (logged) and 5-6 (this process): the mean over the steps whose loss is known
    assert whole.train_loss(sum(LOSSES[4:]) / 6, 6) == pytest.approx((11.0 + 5.5) / 4)
