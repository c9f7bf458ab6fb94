"""Submit a run's steps to Slurm and return at once: one job per step whose output is not complete.

Each job depends (`afterok`) on the jobs of its input steps, and is cancelled by Slurm if one of them
fails (`kill-on-invalid-dep`). A step already queued or running for the same key, by this run, an
earlier one or another sweep point, is depended on instead of submitted again; a failed or vanished
one is submitted anew. Complete outputs are never touched.
"""

from __future__ import annotations

import json
import shlex
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import submitit

from hala_exp.launch import JOBS_FILE, LaunchError
from hala_exp.launch.array import submit_fanned
from hala_exp.launch.job import StepJob
from hala_exp.launch.plan import check_plan
from hala_exp.launch.queue import LIVE, cancel, job_states, limits_for
from hala_exp.launch.registry import JobRegistry
from hala_exp.launch.resources import Request
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.store import Store
from hala_exp.plan.compiled import Plan, PlannedStep


def job_name(step: str, key: str) -> str:
    return f"hala.{step}.{key}"


def _executor(c: Any, folder: Path, name: str, req: Request, deps: list[str]) -> submitit.SlurmExecutor:
    """`c`: the cluster settings (the Plan's, read-only)."""
    ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=c.max_requeues)
    setup = [f"export {k}={shlex.quote(str(v))}" for k, v in c.env.items()] + list(c.setup)
    # requeue: preempted / timed-out jobs come back; append: a requeued job's log keeps its first run.
    extra: dict[str, Any] = {"requeue": True, "open-mode": "append"}
    if deps:
        extra["kill-on-invalid-dep"] = "yes"
    ex.update_parameters(
        job_name=name, partition=c.partition, account=c.account, qos=c.qos, constraint=c.constraint,
        time=req.timeout_min, nodes=req.nodes, ntasks_per_node=req.tasks_per_node,
        cpus_per_task=req.cpus_per_task, gpus_per_node=req.gpus_per_node or None,
        mem=f"{int(req.mem_gb * 1024)}MB", signal_delay_s=c.signal_delay_s, setup=setup,
        # across nodes: a node whose launcher dies takes the others down instead of leaving them waiting
        srun_args=["--open-mode=append", *(["--kill-on-bad-exit=1"] if req.nodes > 1 else []), *c.srun_args],
        dependency=("afterok:" + ":".join(deps)) if deps else None,
        additional_parameters=extra)
    return ex


def _job(plan: Plan, step: PlannedStep, spec: dict[str, Any], run_dir: Path) -> StepJob:
    """The job's callable: the stage's interpreter (`runtime.stages`) and, for training on more than
    one allocated GPU, the `accelerate launch` command for what the job was given (one launcher task
    a node: the plan's check refuses more before anything is submitted)."""
    launch = list(step.launch) if step.launch else None
    return StepJob(spec, plan.cluster.settings.max_requeues, step.environment, launch, str(run_dir / "steps"))


def submit_run(plan: Plan, run_dir: Path) -> dict[str, Any]:
    """Submit what must run; write and return `<run_dir>/jobs.json` ({"steps": {name: {...}}})."""
    started = time.time()
    steps = plan.steps
    keys = plan.keys
    cluster = plan.cluster
    if cluster is None or cluster.submit != "slurm":
        raise LaunchError("this plan was compiled for cluster.submit=local: there is nothing to submit. "
                          "Fix: cluster.submit=slurm (e.g. cluster=h100)")
    store = Store(plan.store)
    store.sweep_stale()
    # the store now, not when the plan was compiled; a reused output a job about to run reads: its content too
    todo = [s for s in steps if store.record(s.name, s.key) is None
            or (s.state.verify and store.reuse(s.name, s.key, hashes=True)[0] is None)]
    pending = {s.name for s in todo}
    requests = {s.name: s.job.job for s in steps}  # each step's job: its stage's entry, GPUs following its engine
    if todo:  # the whole plan checked before anything is submitted: all or nothing
        check_plan(cluster, [s.job for s in todo], limits_for(cluster.settings))

    registry = JobRegistry(store.root)
    tracking = plan.tracking  # each job opens its own W&B run, as a local step does
    folder = run_dir / "slurm" / "%j"
    entries: dict[str, dict[str, Any]] = {}
    submitted: list[str] = []
    with registry.locked():
        known = {s.name: registry.get(s.name, keys[s.name]) for s in todo}
        states = job_states([e["job_id"] for e in known.values() if e])
        for s in steps:
            key = keys[s.name]
            entry: dict[str, Any] = {"key": key, "stage": s.stage, "dir": str(store.path(s.name, key))}
            if s.name not in pending:
                entries[s.name] = {**entry, "state": "complete"}
                continue
            deps = [n for n in s.needs if n in entries and entries[n].get("job_id")]
            prior = known[s.name]
            live = prior and states.get(prior["job_id"])
            if live and live.state in LIVE and live.name == prior["job_name"]:
                entries[s.name] = {**entry, **_public(prior), "state": "queued", "depends_on": deps}
                continue
            dep_ids = [entries[d]["job_id"] for d in deps]
            name = job_name(s.name, key)
            fanned: dict[str, Any] = {}
            try:
                step_job = _job(plan, s, make_spec(s, keys, store, tracking), run_dir)
                if s.workers > 1:  # a job array of workers, then the gather: the step's job
                    fanned = submit_fanned(lambda n, r, d: _executor(cluster.settings, folder, n, r, d), name,
                                           step_job.spec, requests[s.name], dep_ids, s.workers, s.parallelism,
                                           step_job, prior)
                    job = fanned.pop("gather")
                else:
                    job = _executor(cluster.settings, folder, name, requests[s.name], dep_ids).submit(step_job)
            except submitit.core.utils.FailedJobError as e:
                # all or nothing: no orphans waiting on a pipeline that is not there
                cancel([entries[n]["job_id"] for n in submitted])
                for done in submitted:
                    registry.remove(done, keys[done])
                raise LaunchError(f"step {s.name}: Slurm refused the job ({requests[s.name].as_dict()}, "
                                  f"partition {cluster.settings.partition}): {str(e).strip()}. Fix: change "
                                  f"resources.stages.{s.stage} or the cluster settings") from e
            record = {"job_id": str(job.job_id), "job_name": name, "stdout": str(job.paths.stdout),
                      "stderr": str(job.paths.stderr), "run_dir": str(run_dir),
                      "submitted": datetime.now(timezone.utc).isoformat(),
                      "resources": requests[s.name].as_dict(), **fanned}
            registry.put(s.name, key, record)
            submitted.append(s.name)
            entries[s.name] = {**entry, **_public(record), "state": "submitted", "depends_on": deps}
    jobs = {"cluster": cluster.settings.name, "partition": cluster.settings.partition, "store": str(store.root),
            "submit_seconds": round(time.time() - started, 3), "steps": entries}
    (run_dir / JOBS_FILE).write_text(json.dumps(jobs, indent=2) + "\n", encoding="utf-8")  # graph order
    return jobs


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("job_id", "job_name", "stdout", "stderr", "resources", "workers", "tasks",
                                   "array_parallelism") if k in record}


def print_jobs(jobs: dict[str, Any], run_dir: Path) -> None:
    steps = jobs["steps"]
    width = max(len(n) for n in steps)
    for name, e in steps.items():
        after = f"  after {', '.join(e['depends_on'])}" if e.get("depends_on") else ""
        print(f"{e['state']:>9}  {name:<{width}}  {e.get('job_id', '-'):>8}{after}")
    counts = {s: sum(e["state"] == s for e in steps.values()) for s in ("submitted", "queued", "complete")}
    print(f"{counts['submitted']} jobs submitted, {counts['queued']} already queued, "
          f"{counts['complete']} complete ({jobs['submit_seconds']:.1f} s).")
    print(f"Jobs: {run_dir / JOBS_FILE}\nStatus: hala-exp-status {run_dir}")
