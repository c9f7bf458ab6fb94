"""A generation step on Slurm as one job array of workers and one gather job after it.

Each array task is worker i of W (`hala_exp.pipeline.fanout`), sized by the stage's resources, at
most `resources.stages.<stage>.array_parallelism` at once; the gather job depends (`afterok`) on
every task, needs no GPU, and is the job the registry records for the step, so downstream jobs
depend on the committed output, never on a partial one. Submitted again (after a task was killed
or preempted past its requeues), only the workers that have not marked themselves done and are
not still queued or running are submitted; the gather waits for those and the live ones.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import submitit

from hala_exp import stopping
from hala_exp.launch.job import StepJob, restarts
from hala_exp.launch.queue import LIVE, cancel
from hala_exp.launch.resources import Request
from hala_exp.pipeline.fanout import gather_spec, unfinished, work, worker_process, worker_spec

log = logging.getLogger("hala_exp")


class WorkerJob(StepJob):
    """One array task: worker i's shards, in the stage's interpreter; requeued on USR2 like a step."""

    def __call__(self) -> dict[str, Any]:
        if os.environ.get("SLURM_CPUS_PER_TASK"):  # as a step job: torch on the cores it was given
            os.environ.setdefault("OMP_NUM_THREADS", os.environ["SLURM_CPUS_PER_TASK"])
        logging.basicConfig(level=logging.INFO,
                            format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", force=True)
        role = self.spec["shards_role"]
        log.info("worker %d of %d of step %s key %s (start %d)", role["worker"], role["workers"],
                 self.spec["name"], self.spec["key"], restarts() + 1)
        try:
            with stopping.handling(self.spec["name"]):
                if self.python is None:
                    ran = work(self.spec)
                else:
                    proc = worker_process(self.spec, self.python, Path(self.work_dir or "."))
                    with stopping.forwarding(proc):
                        code = proc.wait()
                    proc.log_file.close()  # type: ignore[attr-defined]
                    stopping.check()
                    if code != 0:
                        raise RuntimeError(f"worker exited with status {code}; see its log in {self.work_dir}")
                    ran = True
        except stopping.Stopped as e:
            log.error("%s: its finished shards are kept; run the same command again", e)
            raise SystemExit(e.exit_code) from e
        return {"ran": ran}


def live_tasks(task_ids: list[str]) -> set[str]:
    """The task ids (`123_4`, or plain job ids) that Slurm still has queued or running."""
    if not task_ids:
        return set()
    parents = sorted({t.split("_")[0] for t in task_ids})
    out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(parents), "-o", "%i|%T"],
                         capture_output=True, text=True, timeout=60, check=False).stdout
    live = {p[0] for p in (line.split("|") for line in out.splitlines()) if len(p) == 2 and p[1] in LIVE}
    return live & set(task_ids)


def submit_fanned(make_executor: Callable[[str, Request, list[str]], submitit.SlurmExecutor], name: str,
                  spec: dict[str, Any], req: Request, deps: list[str], workers: int, parallelism: int | None,
                  job: StepJob, prior: dict[str, Any] | None) -> dict[str, Any]:
    """Submit the missing workers as one array (after `deps`), then the gather after them.
    `make_executor(job name, request, dependencies)` is the site's executor. Returns the gather's
    job (the step's job) and the registry fields `tasks` {worker index: job id} and `workers`."""
    known = {int(i): t for i, t in ((prior or {}).get("tasks") or {}).items()} \
        if (prior or {}).get("workers") == workers else {}
    alive = live_tasks(list(known.values()))
    kept = {i: t for i, t in known.items() if t in alive}
    todo = [i for i in unfinished(spec, workers) if i not in kept]
    tasks = dict(kept)
    if todo:
        executor = make_executor(f"{name}.worker", req, deps)
        executor.update_parameters(array_parallelism=min(parallelism or len(todo), len(todo)))
        with executor.batch():
            submitted = [executor.submit(WorkerJob(worker_spec(spec, i, workers), job.max_requeues, job.python,
                                                   None, job.work_dir)) for i in todo]
        tasks.update({i: str(j.job_id) for i, j in zip(todo, submitted)})
    log.info("step %s: %d workers, %d submitted, %d still queued, %d done", spec["name"], workers, len(todo),
             len(kept), workers - len(todo) - len(kept))
    try:
        gather = make_executor(name, gather_request(req), [*deps, *sorted(tasks.values())]).submit(
            StepJob(gather_spec(spec, workers), job.max_requeues, job.python, None, job.work_dir))
    except submitit.core.utils.FailedJobError:
        cancel([tasks[i] for i in todo])  # no workers left running for a step nobody gathers
        raise
    return {"gather": gather, "tasks": {str(i): t for i, t in sorted(tasks.items())}, "workers": workers,
            "array_parallelism": parallelism}


def gather_request(req: Request) -> Request:
    """The gather reads shards and writes the output: the stage's CPUs and memory, one node, no GPU."""
    return dataclasses.replace(req, nodes=1, gpus_per_node=0, tasks_per_node=1)
