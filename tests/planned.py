"""A composed pipeline's steps, keys and store for tests that run one step by hand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hala_exp.config import compose
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.store import Store
from hala_exp.plan.compiled import PlannedStep
from hala_exp.plan.compiler import compile_plan


@dataclass
class Planned:
    cfg: Any
    steps: dict[str, PlannedStep]
    keys: dict[str, str]
    store: Store

    def spec(self, name: str, tracking: dict[str, Any] | None = None) -> dict[str, Any]:
        return make_spec(self.steps[name], self.keys, self.store, tracking)


def planned(tmp_path: Path, *overrides: str) -> Planned:
    """The graph of `hala-exp store=<tmp>/store <overrides>`, nothing run."""
    cfg = compose([f"store={tmp_path / 'store'}", *overrides])
    plan = compile_plan(cfg, tracking=False)
    return Planned(cfg, {s.name: s for s in plan.steps}, plan.keys, Store(cfg.store))
