"""`STEP.METRIC[:min|:max]`: a results.json metric and whether lower is better.

One syntax for the search's objectives and for `hala-exp-table --metric`, so a column and an
objective are written the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Objective:
    metric: str  # flat results.json name, e.g. heldout.student_merged.arabic.loss
    minimize: bool  # `:min`; no suffix or `:max` is higher-is-better

    @property
    def direction(self) -> str:
        return "minimize" if self.minimize else "maximize"

    def spec(self) -> str:
        return f"{self.metric}:{'min' if self.minimize else 'max'}"


def step_of(metric: str) -> str:
    """The step a flat metric came from: `evaluate.<system>`, `heldout.<system>`, `build.<role>` and
    `convert.<model>` steps have two-part names."""
    parts = metric.split(".")
    return ".".join(parts[:2]) if parts[0] in ("evaluate", "heldout", "build", "convert") else parts[0]


def parse_objective(spec: str) -> Objective:
    """`name:min` (lower is better), `name:max` or `name` (higher is better); ValueError otherwise."""
    name, _, direction = str(spec).partition(":")
    if direction not in ("", "min", "max"):
        raise ValueError(f"direction {direction!r} is not min or max; write {name}:min (lower is better) "
                         f"or {name}:max")
    if not name or "." not in name:
        raise ValueError("a metric is STEP.METRIC as results.json names it, e.g. "
                         "heldout.student_merged.arabic.loss")
    return Objective(name, direction == "min")
