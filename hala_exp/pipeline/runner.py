"""Run the stage graph: reuse complete outputs, run the rest, write `results.json`.

`results.json` (in the run directory) is a contract other tools read:
{"stages": {NAME: {"status": "ran"|"reused", "key", "dir", "seconds"}}, "metrics": {FLAT_NAME: NUMBER}}
with metrics named `<step>.<metric>`, e.g. `evaluate.student_merged.arabic_mmlu_sample.acc`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.io import write_json
from hala_exp.pipeline.dispatch import interpreter_for, run_step, training_launch
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.graph import build_graph, step_keys
from hala_exp.pipeline.results import add_result
from hala_exp.pipeline.store import Store
from hala_exp.tracking.context import tracking_context

log = logging.getLogger("hala_exp")


def plan(cfg: DictConfig) -> list[dict[str, Any]]:
    """For each step: name, key and whether it would run or be reused. Imports no ML library."""
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    return [{"name": s.name, "key": keys[s.name],
             "status": "reused" if store.record(s.name, keys[s.name]) else "run",
             "dir": str(store.path(s.name, keys[s.name]))} for s in steps]


def run_pipeline(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    store.sweep_stale()
    tracking = tracking_context(cfg)  # None with logger=none; W&B runs open only for executed steps
    results: dict[str, Any] = {"stages": {}, "metrics": {}}
    for step in steps:
        spec = make_spec(step, keys, store, tracking)
        log.info("step   %-28s %s", step.name, spec["key"])
        started = time.time()
        python = interpreter_for(cfg.runtime, step.stage)
        record, did_run = run_step(spec, python, run_dir / "steps", training_launch(cfg, step.stage, python))
        add_result(results, step.name, spec["key"], store, record, did_run, time.time() - started)
        write_json(run_dir / "results.json", results, atomic=True)  # partial results survive a later failure
    return results
