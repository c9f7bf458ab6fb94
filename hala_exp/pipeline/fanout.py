"""A generation step spread over W workers, each on its own shards, then one gather.

At the paper's scale one engine per step is too slow (4.5M rows through the translator), so a
generation step may run as `resources.stages.<stage>.workers` workers: worker i computes the
shards with index % W == i (deterministic, so a rerun splits the same way) into the step's partial
folder and nothing else, under a lease of its own; it marks itself done there when all of its
shards are in. The gather, holding the step's lease as any step run does, runs the stage with
every shard required to be there already (`hala_exp.shards`): it checks each holds exactly its
ids and writes the output as a one-worker run would, then commits. The key does not depend on W.

Locally the parent holds the lease and starts W processes (one engine each; GPUs split into W
groups through CUDA_VISIBLE_DEVICES); on Slurm the workers are one job array and the gather a
job that depends on it (`hala_exp.launch.submit`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp import fence, stopping
from hala_exp.json_files import replace_text, tail_lines
from hala_exp.pipeline.execute import StepFailed, call_stage
from hala_exp.pipeline.lease import held
from hala_exp.pipeline.store import Store
from hala_exp.shards import ROLE, WorkerDone, assigned, done_shards, read_plan, role_of

log = logging.getLogger("hala_exp")


def workers_for(resources: DictConfig | None, stage: str) -> int:
    """`resources.stages.<stage>.workers` for a sharded stage (1 when unset or another stage)."""
    from hala_exp.stages import STAGES

    info = STAGES.get(stage)
    if info is None or not info.sharded or resources is None:
        return 1
    own = (resources.get("stages") or {}).get(stage) or {}
    n = own.get("workers") or (resources.get("default") or {}).get("workers") or 1
    if int(n) < 1:
        raise ValueError(f"resources.stages.{stage}.workers = {n}: must be at least 1")
    return int(n)


def parallelism_for(resources: DictConfig | None, stage: str) -> int | None:
    """`resources.stages.<stage>.array_parallelism`: how many of its workers may run at once (None: all)."""
    own = ((resources.get("stages") or {}).get(stage) or {}) if resources is not None else {}
    n = own.get("array_parallelism")
    return int(n) if n else None


def worker_spec(spec: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """Worker `index` of `count`: no W&B run of its own (the gather's run is the step's)."""
    return {**spec, ROLE: {"worker": index, "workers": count}, "tracking": None}


def gather_spec(spec: dict[str, Any], count: int) -> dict[str, Any]:
    return {**spec, ROLE: {"gather": True, "workers": count}}


def shards_dir(spec: dict[str, Any]) -> Path:
    return Path(spec["inputs"]["shards"])


def marker(spec: dict[str, Any], index: int, count: int) -> Path:
    """Written by worker `index` of `count` once all of its shards are committed."""
    return shards_dir(spec) / f"worker-{index:04d}-of-{count:04d}.done"


def worker_done(spec: dict[str, Any], index: int, count: int) -> bool:
    """Marked done, and none of its shards gone since (once the pass is sized, the shards decide)."""
    if not marker(spec, index, count).is_file():
        return False
    plan = read_plan(shards_dir(spec))
    if plan is None:
        return True
    have = set(done_shards(shards_dir(spec)))
    return all(i in have for i in range(index, plan["shards"], count))


def unfinished(spec: dict[str, Any], count: int) -> list[int]:
    """Workers of `count` not done: the ones a rerun must start again."""
    return [i for i in range(count) if not worker_done(spec, i, count)]


def work(spec: dict[str, Any]) -> bool:
    """Run this worker's shards (in this process). False when there was nothing left for it to do."""
    role = role_of(spec)
    assert role.worker is not None, "work() needs a worker spec"
    store = Store(spec["store"])
    name, key = spec["name"], spec["key"]
    done = marker(spec, role.worker, role.workers)
    if store.record(name, key) is not None or worker_done(spec, role.worker, role.workers):
        return False
    # Two copies of one worker (a requeue racing its predecessor) never write the same shard at once.
    with held(store.root, f"{name}.worker{role.worker}of{role.workers}", key,
              lambda: worker_done(spec, role.worker, role.workers) or store.record(name, key) is not None) as lease:
        if lease is None:
            return False
        scratch = store.begin(name, key)  # the stage may write beside its shards (the corpus mix): thrown away
        try:
            with assigned(role), fence.guarding(lease.token()):  # each shard written under this worker's lease
                call_stage(spec, scratch)
        except WorkerDone as e:
            log.info("worker %d of %d of %s: %s", role.worker, role.workers, name, e)
        else:
            raise RuntimeError(f"step {name}: stage {spec['stage']} finished without a sharded pass; "
                               "only generation stages can run as workers")
        finally:
            store.abort(scratch)
        fence.check(lease.token())
        replace_text(done, json.dumps({"host": os.uname().nodename, "job": os.environ.get("SLURM_JOB_ID")}))
    return True


def worker_process(spec: dict[str, Any], python: str | None, work_dir: Path,
                   env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start one worker as `python -m hala_exp.step_process SPEC` (its output to `<work_dir>/<step>.w<i>.log`)."""
    role = role_of(spec)
    work_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{spec['name']}.w{role.worker}of{role.workers}"
    spec_file = work_dir / f"{stem}.spec.json"
    spec_file.write_text(json.dumps(spec, ensure_ascii=False, indent=2), encoding="utf-8")
    log_file = open(work_dir / f"{stem}.log", "a", encoding="utf-8")  # noqa: SIM115 (closed by run_local)
    proc = subprocess.Popen([python or sys.executable, "-m", "hala_exp.step_process", str(spec_file)],
                            stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    proc.log_file = log_file  # type: ignore[attr-defined]
    return proc


def gpu_groups(gpus: int, workers: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES of each worker: the node's GPUs split into `workers` equal groups
    (None: left as it is, with one GPU or none, which the workers then share)."""
    if gpus <= 1:
        return [None] * workers
    if gpus % workers:
        raise ValueError(f"{gpus} GPUs cannot be split into {workers} equal worker groups: "
                         "set resources.stages.<stage>.workers to a divisor of runtime.gpus_per_node")
    per = gpus // workers
    return [",".join(str(g) for g in range(i * per, (i + 1) * per)) for i in range(workers)]


def run_local(spec: dict[str, Any], python: str | None, work_dir: Path, workers: int, gpus: int = 0) -> None:
    """Run the step's unfinished workers as processes here and wait for all of them (the caller
    holds the step's lease and gathers). Raises RuntimeError naming each worker that failed."""
    groups = gpu_groups(gpus, workers)
    todo = unfinished(spec, workers)
    log.info("fan out %-27s %d workers (%d to run)", spec["name"], workers, len(todo))
    procs: dict[int, subprocess.Popen] = {}
    with contextlib.ExitStack() as stack:
        for i in todo:
            env = {"CUDA_VISIBLE_DEVICES": groups[i]} if groups[i] is not None else {}
            procs[i] = worker_process(worker_spec(spec, i, workers), python, work_dir, env)
            stack.enter_context(stopping.forwarding(procs[i]))  # a stop signal reaches every worker
        codes = {i: p.wait() for i, p in procs.items()}
    for p in procs.values():
        p.log_file.close()  # type: ignore[attr-defined]
    stopping.check()
    failed = {i: c for i, c in codes.items() if c != 0}
    if failed:
        logs = {i: work_dir / f"{spec['name']}.w{i}of{workers}.log" for i in failed}
        tails = "\n".join(f"--- worker {i} (exit {c}): {logs[i]} ---\n" + "\n".join(tail_lines(str(logs[i]), 20))
                          for i, c in failed.items())
        raise StepFailed(f"step {spec['name']}: {len(failed)} of {workers} workers failed; their finished "
                         f"shards are kept, run again to redo only the rest\n{tails}")
