"""The callable each Slurm job runs: one step from its spec, requeued on USR2 a bounded number of times.

submitit installs its own handlers before it calls the job: USR2 checkpoints and requeues, and
SIGTERM is only logged ("Bypassing signal SIGTERM") and otherwise ignored. Slurm sends SIGTERM on
`scancel` and gives the job KillWait seconds before SIGKILL, so a step that finished within them
committed its output although its job was cancelled (and its dependents with it). While the step
runs, SIGTERM and SIGINT are ours (`hala_exp.stopping`): the step stops cleanly, is never
committed, and the job exits with 128 + the signal. USR2 stays submitit's.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import submitit

from hala_exp import stopping
from hala_exp.launch import nodes
from hala_exp.training.launch import ranks_per_node

log = logging.getLogger("hala_exp")


def restarts() -> int:
    """How many times Slurm has requeued this job so far."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def omp_threads(cpus_per_task: str | None, launch: list[str] | None) -> str | None:
    """OMP_NUM_THREADS for each process of the step: torch would use every core of the node, the job
    was given `cpus_per_task` of them, and a launcher's ranks on this node share those (torchrun
    keeps a value already set). None outside Slurm."""
    if not cpus_per_task:
        return None
    return str(max(1, int(cpus_per_task) // ranks_per_node(launch)))


class StepJob(submitit.helpers.Checkpointable):
    """Runs the step as a local run would (`dispatch.run_step`: in this process, in the stage's own
    interpreter, or under `accelerate launch`). On USR2 (time limit or preemption) submitit calls `checkpoint`, which
    requeues the same step: the store skips it if it completed, and a stage that keeps state in its
    partial directory (SFT checkpoints) resumes there. After `max_requeues` it fails instead."""

    def __init__(self, spec: dict[str, Any], max_requeues: int, python: str | None = None,
                 launch: list[str] | None = None, work_dir: str | None = None):
        self.spec = spec
        self.max_requeues = max_requeues
        self.python = python  # the stage's own environment (runtime.stages), None: the job's
        self.launch = launch  # `accelerate launch` for multi-GPU training: one per node (launch/nodes.py)
        self.work_dir = work_dir  # spec file and log of a step run in another process

    def __call__(self) -> dict[str, Any]:
        threads = omp_threads(os.environ.get("SLURM_CPUS_PER_TASK"), self.launch)
        if threads:
            os.environ.setdefault("OMP_NUM_THREADS", threads)
        from hala_exp.pipeline.dispatch import run_step

        logging.basicConfig(level=logging.INFO,
                            format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", force=True)
        log.info("step %s key %s (start %d of at most %d)", self.spec["name"], self.spec["key"],
                 restarts() + 1, self.max_requeues + 1)
        work_dir, launch = Path(self.work_dir or "."), self.launch
        alloc = nodes.plan(launch)
        if alloc is not None and alloc.node_rank > 0:  # one launcher per node: node 0 leads, this one follows
            return {"ran": False, "node": alloc.node_rank, "launched": nodes.follow(alloc, work_dir)}
        if alloc is not None:
            launch = nodes.leader_command(launch, alloc, work_dir, self.spec["name"], self.python or sys.executable)
        try:
            # stopping replaces submitit's SIGTERM bypass meanwhile; leading tells followers when it ends
            with stopping.handling(self.spec["name"]), nodes.leading(work_dir, alloc):
                record, ran = run_step(self.spec, self.python, work_dir, launch)
        except stopping.Stopped as e:
            log.error("%s: not committed; the job exits with status %d. Run the same hala-exp command "
                      "again to resubmit it", e, e.exit_code)
            sys.exit(e.exit_code)
        log.info("%s %s %s", "ran" if ran else "reused", self.spec["name"], self.spec["key"])
        return {"ran": ran, "metrics": record["metrics"]}

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission | None:
        done = restarts()
        if done >= self.max_requeues:
            log.error("step %s: stopped after %d requeue(s), cluster.max_requeues = %d; not requeuing. "
                      "Fix: raise cluster.max_requeues, or resources.stages.%s.timeout_min if it hits the "
                      "time limit", self.spec["name"], done, self.max_requeues, self.spec["stage"])
            return None
        log.warning("step %s: interrupted; requeuing (%d of %d), resuming from its last saved state",
                    self.spec["name"], done + 1, self.max_requeues)
        stopping.requeuing()  # the SIGTERM that comes with the requeue is not a cancellation
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)
