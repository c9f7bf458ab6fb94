"""Run the stage graph: reuse complete outputs, run the rest, write `results.json`.

`results.json` (in the run directory) is a contract other tools read:
{"stages": {NAME: {"status": "ran"|"reused", "key", "dir", "seconds"}}, "metrics": {FLAT_NAME: NUMBER}}
with metrics named `<step>.<metric>`, e.g. `evaluate.student_merged.arabic_mmlu_sample.acc`.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hala_exp.io import write_json
from hala_exp.pipeline.graph import Ref, Step, build_graph, step_keys
from hala_exp.pipeline.provenance import package_versions
from hala_exp.pipeline.store import Store

log = logging.getLogger("hala_exp")


def plan(cfg: DictConfig) -> list[dict[str, Any]]:
    """For each step: name, key and whether it would run or be reused. Imports no ML library."""
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    return [{"name": s.name, "key": keys[s.name],
             "status": "reused" if store.record(s.name, keys[s.name]) else "run",
             "dir": str(store.path(s.name, keys[s.name]))} for s in steps]


def _resolve_inputs(step: Step, store: Store, keys: dict[str, str]) -> dict[str, str]:
    return {k: (str(store.path(v.step, keys[v.step]) / v.sub) if isinstance(v, Ref) else v)
            for k, v in step.inputs.items()}


def _call(step: Step, inputs: dict[str, str], out: Path) -> dict[str, float]:
    module, func = step.fn.split(":")
    fn = getattr(importlib.import_module(module), func)
    metrics = fn(OmegaConf.create(step.config), inputs, out)
    return {k: float(v) for k, v in (metrics or {}).items()}


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write_json(tmp, obj)
    tmp.replace(path)


def run_pipeline(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    store.sweep_stale()
    versions = package_versions()
    results: dict[str, Any] = {"stages": {}, "metrics": {}}
    for step in steps:
        key = keys[step.name]
        record = store.record(step.name, key)
        if record is not None:
            log.info("reuse  %-28s %s", step.name, key)
            status, seconds = "reused", 0.0
        else:
            log.info("run    %-28s %s", step.name, key)
            inputs = _resolve_inputs(step, store, keys)
            work = store.begin(step.name, key)
            started = time.time()
            try:
                metrics = _call(step, inputs, work)
            except BaseException:
                store.abort(work)
                raise
            seconds = time.time() - started
            record = {"stage": step.stage, "name": step.name, "key": key, "version": step.version,
                      "fn": step.fn, "config": step.config,
                      "inputs": {k: {"path": inputs[k], "key": keys[v.step] if isinstance(v, Ref) else None}
                                 for k, v in step.inputs.items()},
                      "metrics": metrics, "seconds": seconds,
                      "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
                      "versions": versions}
            store.commit(work, step.name, key, record)
            status = "ran"
        results["stages"][step.name] = {"status": status, "key": key,
                                        "dir": str(store.path(step.name, key)), "seconds": round(seconds, 3)}
        for k, v in record["metrics"].items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                results["metrics"][f"{step.name}.{k}"] = v
        _atomic_json(run_dir / "results.json", results)  # partial results survive a later failure
    return results
