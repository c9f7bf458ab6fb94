"""The one number a step's console line (and the report's step table) shows: what a reader checks first."""

from __future__ import annotations

import fnmatch
import math

from hala_exp.stages import STAGES
from hala_exp.training.batch import from_metrics


def number(v: float) -> str:
    """Counts as integers (large ones as 1.2M), other values with four significant digits."""
    if not math.isfinite(v):
        return str(v)
    if v == int(v):
        n = abs(v)
        for at, size, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
            if n >= at:
                return f"{v / size:.1f}{suffix}"
        return str(int(v))
    return f"{v:.4g}"


def headline(stage: str, metrics: dict[str, float]) -> str:
    """`name value` of the stage's headline metric (its declaration's `headline`), or "" when it
    reported none of them; a training step's line also says how it split its global batch."""
    line = ""
    info = STAGES.get(stage)
    for pattern in info.headline if info is not None else ():
        for name in sorted(metrics, key=lambda m: (m.count("."), m)):  # a roll-up before its parts
            if fnmatch.fnmatchcase(name, pattern) and isinstance(metrics[name], (int, float)):
                line = f"{name} {number(float(metrics[name]))}"
                break
        if line:
            break
    split = from_metrics(metrics)
    if split is None:
        return line
    return f"{line}, batch {split.describe()}" if line else f"batch {split.describe()}"
