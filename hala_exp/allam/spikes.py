"""Gradient-norm spikes: a logged grad norm above `threshold` x the median of the previous window.

ALLaM reports fewer spikes when translated Arabic is in the mix; this counts them from the
grad_norm the Trainer logs at every logging step.
"""

from __future__ import annotations

import statistics
from typing import Any


def count_spikes(norms: list[float], threshold: float, window: int, min_history: int = 3) -> list[int]:
    """Indices i where norms[i] > threshold * median(norms[i-window:i]) (with enough history)."""
    out = []
    for i, g in enumerate(norms):
        history = norms[max(0, i - window):i]
        if len(history) >= min_history and g > threshold * statistics.median(history):
            out.append(i)
    return out


def grad_norm_rows(history: list[dict[str, Any]]) -> list[dict[str, float]]:
    """(step, loss, grad_norm, lr) of each training log in Trainer's `state.log_history`, for curves and
    spike counts: the Trainer's own record, read once it is done."""
    return [{"step": float(r["step"]), "loss": float(r["loss"]), "grad_norm": float(r["grad_norm"]),
             "learning_rate": float(r.get("learning_rate", 0.0))}
            for r in history if "grad_norm" in r and "loss" in r]
