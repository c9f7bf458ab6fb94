"""Training across nodes in one Slurm job: exactly one `accelerate launch` per node.

A job of N nodes runs one task per node (tasks_per_node=1), and submitit calls the job's callable in
every task. Only node 0 runs the step as a one-node job would (the store's lease, the shared work
folder, the commit by rank 0); its launch command first announces the spec file it is about to run
and its launcher in `<work dir>/.launchers/<job>-<restart>/`. Every other node follows: it waits
for announcements and runs the announced launcher on the announced spec with its own machine rank,
until node 0 says it is done (`end`). The same holds for a whole pipeline in one job (Hydra's
submitit launcher): node 0 runs the pipeline, the others join each training step. So a step that
is reused, or waited for, starts no launcher anywhere, and a requeued job (a new restart count)
never reads an earlier attempt's announcements.

Rendezvous comes from the allocation: the main process is on the first host of
`scontrol show hostnames $SLURM_JOB_NODELIST`, the machine rank is the node's (SLURM_NODEID), and
accelerate's static rendezvous puts global rank 0 on node 0, where the step commits.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hala_exp.training.launch import MACHINE_RANK, MAIN_HOST, SPEC

log = logging.getLogger("hala_exp")
FOLDER = ".launchers"
END = "end"
POLL_S = 0.5


class NodeLaunchError(RuntimeError):
    """The allocation does not fit a multi-node launch, or a follower's launcher failed."""


@dataclass(frozen=True)
class Allocation:
    """This task's place in a Slurm job: which launcher it is, and where rank 0 listens."""

    nodes: int  # launcher tasks, one per node
    node_rank: int
    main_host: str
    job_id: str
    restart: int


def hostnames(nodelist: str) -> list[str]:
    """The job's hosts in Slurm's order (`scontrol show hostnames`)."""
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def allocation(env: Mapping[str, str] | None = None) -> Allocation | None:
    """This task's Allocation inside a Slurm job step with several tasks, else None.

    One task per node: the node id is the machine rank. Several launcher tasks on a single node
    (a test allocation on a CPU machine) stand in for that many machines, told apart by SLURM_PROCID.
    """
    env = os.environ if env is None else env
    if "SLURM_JOB_ID" not in env or "SLURM_PROCID" not in env:
        return None
    tasks = int(env.get("SLURM_NTASKS", "1"))
    nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or "1")
    if tasks <= 1:
        return None
    if nodes > 1 and tasks != nodes:
        raise NodeLaunchError(f"{tasks} tasks on {nodes} nodes: a multi-node launch needs exactly one task "
                              "per node (tasks_per_node=1), each starting one launcher for its node's GPUs")
    node_rank = int(env["SLURM_NODEID"]) if nodes > 1 else int(env["SLURM_PROCID"])
    return Allocation(tasks, node_rank, hostnames(env["SLURM_JOB_NODELIST"])[0], env["SLURM_JOB_ID"],
                      int(env.get("SLURM_RESTART_COUNT", "0") or 0))


def is_multi_node(launch: list[str] | None) -> bool:
    """Whether `launch` is a per-node launcher that still needs its machine rank."""
    return bool(launch) and any(MACHINE_RANK in a for a in launch)


def plan(launch: list[str] | None) -> Allocation | None:
    """This task's Allocation when `launch` spans nodes (it must then run inside such a job), else None."""
    if not is_multi_node(launch):
        return None
    alloc = allocation()
    if alloc is None:
        raise NodeLaunchError("a launch across nodes runs inside a Slurm job with one task per node "
                              "(SLURM_NTASKS > 1); here there is none. Fix: runtime.nodes=1, or submit it")
    return alloc


def for_node(launch: list[str], alloc: Allocation) -> list[str]:
    """`launch` with this node's machine rank and the main host filled in."""
    machines = launch[launch.index("--num_machines") + 1]
    if int(machines) != alloc.nodes:
        raise NodeLaunchError(f"the launch is for {machines} machines but the job has {alloc.nodes} launcher "
                              "tasks: resources.stages.<stage>.nodes must match the allocation")
    return [a.replace(MACHINE_RANK, str(alloc.node_rank)).replace(MAIN_HOST, alloc.main_host) for a in launch]


def announcements(work_dir: Path, alloc: Allocation) -> Path:
    return work_dir / FOLDER / f"{alloc.job_id}-{alloc.restart}"


def leader_command(launch: list[str], alloc: Allocation, work_dir: Path, name: str,
                   python: str = sys.executable) -> list[str]:
    """Node 0's launcher: announce the spec and this node's launch (`python -m hala_exp.launch.nodes`),
    then become that launcher (exec)."""
    folder = announcements(work_dir, alloc)
    return [python, "-m", "hala_exp.launch.nodes", str(folder), name, SPEC, "--", *for_node(launch, alloc)]


def announce(folder: Path, name: str, spec: str, launch: list[str]) -> None:
    """Write one announcement atomically: the spec file and the launch (machine rank 0's argv)."""
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / f"{time.time_ns()}-{name}.json"
    tmp = note.with_suffix(".tmp")
    tmp.write_text(json.dumps({"spec": spec, "launch": launch}), encoding="utf-8")
    os.replace(tmp, note)


def finish(work_dir: Path, alloc: Allocation) -> None:
    """Node 0: no more launches in this job attempt; the followers return."""
    folder = announcements(work_dir, alloc)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / END).write_text("", encoding="utf-8")


def _this_node(launch: list[str], alloc: Allocation) -> list[str]:
    """Machine rank 0's argv as this node's: only the value after --machine_rank differs."""
    at = launch.index("--machine_rank") + 1
    return [*launch[:at], str(alloc.node_rank), *launch[at + 1:]]


def follow(alloc: Allocation, work_dir: Path) -> int:
    """Nodes 1..N-1: run this node's launcher for each step node 0 announces; return how many ran."""
    folder = announcements(work_dir, alloc)
    seen: set[str] = set()
    while True:
        new = sorted(p.name for p in folder.glob("*.json") if p.name not in seen) if folder.is_dir() else []
        for name in new:
            seen.add(name)
            note = json.loads((folder / name).read_text(encoding="utf-8"))
            command = [a.replace(SPEC, note["spec"]) for a in _this_node(note["launch"], alloc)]
            log.info("node %d of %d: launcher for %s", alloc.node_rank, alloc.nodes, note["spec"])
            code = subprocess.run(command, check=False).returncode
            if code != 0:
                raise NodeLaunchError(f"node {alloc.node_rank}: the launcher for {note['spec']} exited "
                                      f"with status {code}")
        if not new and (folder / END).exists():
            return len(seen)
        if not new:
            time.sleep(POLL_S)


@contextmanager
def leading(work_dir: Path, alloc: Allocation | None) -> Iterator[None]:
    """Around node 0's work: tell the followers when it is over, however it ends."""
    try:
        yield
    finally:
        if alloc is not None and alloc.node_rank == 0:
            finish(work_dir, alloc)


def main(argv: list[str] | None = None) -> None:
    """`python -m hala_exp.launch.nodes FOLDER NAME SPEC -- LAUNCH...`: announce, then exec LAUNCH."""
    args = sys.argv[1:] if argv is None else argv
    folder, name, spec, sep, *launch = args
    if sep != "--" or not launch:
        raise SystemExit("usage: python -m hala_exp.launch.nodes FOLDER NAME SPEC -- LAUNCH...")
    announce(Path(folder), name, spec, [a.replace(spec, SPEC) for a in launch])
    os.execvp(launch[0], launch)


if __name__ == "__main__":
    main()
