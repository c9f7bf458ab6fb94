"""Gradient-norm spikes: a logged grad norm above `threshold` x the median of the previous window.

ALLaM reports fewer spikes when translated Arabic is in the mix; this counts them from the
grad_norm the Trainer logs at every logging step.
"""

from __future__ import annotations

import statistics

from transformers import TrainerCallback


def count_spikes(norms: list[float], threshold: float, window: int, min_history: int = 3) -> list[int]:
    """Indices i where norms[i] > threshold * median(norms[i-window:i]) (with enough history)."""
    out = []
    for i, g in enumerate(norms):
        history = norms[max(0, i - window):i]
        if len(history) >= min_history and g > threshold * statistics.median(history):
            out.append(i)
    return out


class GradNormLog(TrainerCallback):
    """Keeps (step, loss, grad_norm, lr) from each training log, for curves and spike counts."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "grad_norm" in logs and "loss" in logs:
            self.rows.append({"step": float(state.global_step), "loss": float(logs["loss"]),
                              "grad_norm": float(logs["grad_norm"]),
                              "learning_rate": float(logs.get("learning_rate", 0.0))})
