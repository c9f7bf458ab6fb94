"""Execute one step from a self-contained spec, in this process or any other.

The spec is plain JSON (stage function, config slice, resolved input paths, key, store root), so
the same step runs in-process, as `python -m hala_exp.step SPEC.json` under another interpreter,
or inside a Slurm job, and always commits through the store the same way.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hala_exp.pipeline.graph import Ref, Step
from hala_exp.pipeline.partial import partial_scope
from hala_exp.pipeline.provenance import package_versions
from hala_exp.pipeline.store import Store

log = logging.getLogger("hala_exp")


def make_spec(step: Step, keys: dict[str, str], store: Store) -> dict[str, Any]:
    """Everything needed to run `step` elsewhere: no Python objects, only JSON."""
    inputs = {k: (str(store.path(v.step, keys[v.step]) / v.sub) if isinstance(v, Ref) else v)
              for k, v in step.inputs.items()}
    return {"name": step.name, "stage": step.stage, "fn": step.fn, "version": step.version,
            "key": keys[step.name], "store": str(store.root), "config": step.config, "inputs": inputs,
            "input_keys": {k: keys[v.step] for k, v in step.inputs.items() if isinstance(v, Ref)}}


def _call(spec: dict[str, Any], out: Path) -> dict[str, float]:
    module, func = spec["fn"].split(":")
    fn = getattr(importlib.import_module(module), func)
    metrics = fn(OmegaConf.create(spec["config"]), dict(spec["inputs"]), out)
    return {k: float(v) for k, v in (metrics or {}).items()}


def execute(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Run the step unless its output is complete. Returns (completion record, whether it ran)."""
    store = Store(spec["store"])
    existing = store.record(spec["name"], spec["key"])
    if existing is not None:
        return existing, False
    work = store.begin(spec["name"], spec["key"])
    started = time.time()
    try:
        with partial_scope(store.partial(spec["name"], spec["key"])):
            metrics = _call(spec, work)
    except BaseException:
        store.abort(work)
        raise
    record = {"stage": spec["stage"], "name": spec["name"], "key": spec["key"], "version": spec["version"],
              "fn": spec["fn"], "config": spec["config"],
              "inputs": {k: {"path": p, "key": spec["input_keys"].get(k)} for k, p in spec["inputs"].items()},
              "metrics": metrics, "seconds": time.time() - started,
              "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
              "versions": package_versions()}
    store.commit(work, spec["name"], spec["key"], record)
    return record, True


def main(argv: list[str] | None = None) -> int:
    """`python -m hala_exp.step SPEC.json`: run one step; exit 0 once its output is complete."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hala_exp.step SPEC.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    record, ran = execute(spec)
    log.info("%s %s %s", "ran" if ran else "reused", spec["name"], spec["key"])
    return 0
