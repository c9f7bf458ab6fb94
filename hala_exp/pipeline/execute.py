"""Execute one step from a self-contained spec, in this process or any other.

The spec is plain JSON (stage function, config slice, resolved input paths, key, store root), so
the same step runs in-process, as `python -m hala_exp.step_process SPEC.json` under another interpreter,
or inside a Slurm job, and always commits through the store the same way.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hala_exp import fence, stopping
from hala_exp.pipeline import disk_space
from hala_exp.pipeline.provenance import package_versions
from hala_exp.pipeline.store import Store
from hala_exp.recipes.graph import Ref, Step
from hala_exp.stages import STAGES
from hala_exp.tracking.step_run import StepRun

log = logging.getLogger("hala_exp")


class StepFailed(RuntimeError):
    """A step run in another process failed; the message carries the end of its log."""
LEASE_LOST_EXIT = 75  # EX_TEMPFAIL: the step goes on in the run that took its lease over
EXPECTED_BYTES = "expected_bytes"  # spec field: what the step is expected to write (`disk_space`), or None


def make_spec(step: Step, keys: dict[str, str], store: Store,
              tracking: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to run `step` elsewhere: no Python objects, only JSON.

    `tracking` (from `hala_exp.tracking.tracking_context`) is carried as is; it never enters the key,
    nor do `step.messages`, which the stage reads as `config.messages`, nor `step.writes` (what a
    full disk's report says the step needed).
    A step with resumable state gets `inputs[step.partial]` ("shards", "checkpoints"): a directory
    outside the work dir, kept across kills and requeues, deleted once the output is committed.
    """
    from hala_exp.plan.frozen import thaw

    if not STAGES[step.stage].tracked:  # e.g. a source snapshot: its counts are in results.json
        tracking = None
    inputs = {k: (str(store.path(v.step, keys[v.step]) / v.sub) if isinstance(v, Ref) else v)
              for k, v in step.inputs.items()}
    if step.partial:
        inputs[step.partial] = str(store.partial(step.name, keys[step.name]))
    return {"name": step.name, "stage": step.stage, "fn": step.fn, "version": step.version,
            "key": keys[step.name], "store": str(store.root),
            "config": thaw({**step.config, "messages": step.messages, "options": step.options}),
            "inputs": inputs,
            "input_keys": {k: keys[v.step] for k, v in step.inputs.items() if isinstance(v, Ref)},
            "input_steps": {k: v.step for k, v in step.inputs.items() if isinstance(v, Ref)},
            "tracking": thaw(tracking), EXPECTED_BYTES: step.writes}


def call_stage(spec: dict[str, Any], out: Path) -> dict[str, float]:
    """The stage function on the spec, as the spec's worker or gather when it has a shard role."""
    from hala_exp.shards import assigned, role_of

    module, func = spec["fn"].split(":")
    fn = getattr(importlib.import_module(module), func)
    with assigned(role_of(spec)):
        metrics = fn(OmegaConf.create(spec["config"]), dict(spec["inputs"]), out)
    return {k: float(v) for k, v in (metrics or {}).items()}


def _rank() -> int:
    """This process's global rank under `accelerate launch` / torchrun (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def execute(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Run the step unless its output is complete. Returns (completion record, whether it ran).

    With `spec["work_dir"]` (a multi-process launch: every rank must write into the same folder)
    the launching process owns that folder: only rank 0 commits, and a failure leaves the clean-up
    to the launcher. Other ranks return an empty record.
    """
    with stopping.handling(spec["name"]), fence.guarding(spec.get(fence.LEASE)):
        return _execute(spec)


def _execute(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    store = Store(spec["store"])
    existing, _ = store.reuse(spec["name"], spec["key"])  # a broken entry is moved aside: run again
    if existing is not None:
        return existing, False
    shared = spec.get("work_dir")
    # One W&B run per executed step, opened by rank 0 only; reused steps returned above.
    tracker = StepRun(spec if _rank() == 0 else {**spec, "tracking": None})
    work: Path | None = Path(shared) if shared else None
    final: Path | None = None
    try:
        if work is None:
            with stopping.deferred():  # made and known here together, so a signal never leaves it behind
                work = store.begin(spec["name"], spec["key"])
        tracker.start(work)
        started = time.time()
        metrics = call_stage(spec, work)
        if shared and _rank() != 0:
            return {}, True
        record = {"stage": spec["stage"], "name": spec["name"], "key": spec["key"], "version": spec["version"],
                  "fn": spec["fn"], "config": spec["config"],
                  "inputs": {k: {"path": p, "key": spec["input_keys"].get(k)} for k, p in spec["inputs"].items()},
                  "metrics": metrics, "seconds": time.time() - started,
                  "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
                  "versions": package_versions(), "python": sys.executable}
        if tracker.info:
            record["tracking"] = tracker.info
        stopping.check()  # a signal that came as the stage returned: a stopped step is never committed
        fence.check()  # a lease lost meanwhile: the run that took it over commits, not this one
        with stopping.deferred("committing its output first"):  # the rename is whole or not at all
            final = store.commit(work, spec["name"], spec["key"], record)
    except BaseException as e:
        if final is None:
            # a full filesystem is told before the work directory goes (which frees the space again)
            full = disk_space.diagnose(e, store.root, spec["name"], spec.get(EXPECTED_BYTES), work)
            tracker.fail()
            if not shared and work is not None:
                store.abort(work)
            if full is not None:
                raise full from e
        raise
    try:
        tracker.finish(record, final)
    except Exception as e:  # noqa: BLE001 (output complete and kept; only its W&B run is left unfinished)
        log.warning("W&B run %s of %s not finished: %s", tracker.info and tracker.info["run_id"], spec["name"], e)
    return record, True
