"""What Slurm knows: partition limits (sinfo) and job states (squeue for live jobs, sacct after)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from typing import Any

from hala_exp.launch import LaunchError

# States in which a job will still run or is running: depend on it rather than submit it again.
LIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
        "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"}


@dataclass(frozen=True)
class PartitionLimits:
    name: str
    nodes: int
    cpus_per_node: int
    mem_mb_per_node: int
    gpus_per_node: int
    max_time_min: int | None
    gpu_mem_gb: float | None = None  # one GPU's memory (sinfo does not say it: declared in the cluster config)
    source: str = "sinfo"  # where these limits were read: sinfo, or the cluster config's `limits`

    def describe(self) -> str:
        t = "no time limit" if self.max_time_min is None else f"max {self.max_time_min} min"
        gpu = f" x {self.gpu_mem_gb:g} GB" if self.gpu_mem_gb and self.gpus_per_node else ""
        return (f"{self.nodes} node(s) of {self.cpus_per_node} CPUs, {self.mem_mb_per_node / 1024:.1f} GB, "
                f"{self.gpus_per_node} GPUs{gpu}; {t}")


@dataclass(frozen=True)
class JobState:
    job_id: str
    name: str
    state: str  # PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
    reason: str = ""  # squeue's reason (e.g. DependencyNeverSatisfied) or sacct's exit code
    restarts: int = 0
    detail: str = ""  # sacct's whole state, e.g. "CANCELLED by 0"
    exit_code: str = ""  # sacct's "code:signal", e.g. "0:15"
    elapsed: str = ""  # sacct's run time of the last run, e.g. "00:00:03"


def _run(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        raise LaunchError(f"`{cmd[0]}` not found: cluster.submit = slurm needs the Slurm client "
                          "commands. Fix: run on a Slurm login node, start scripts/slurm/start.sh, "
                          "or use cluster=local")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise LaunchError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _minutes(limit: str) -> int | None:
    """sinfo's time limit ('infinite', 'MM', 'HH:MM:SS', 'D-HH:MM:SS') in minutes."""
    if limit in ("infinite", "UNLIMITED", "n/a"):
        return None
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    h, m, s = [0, 0, *parts][-3:] if len(parts) > 1 else (0, parts[0], 0)
    return (int(days) if days else 0) * 1440 + h * 60 + m + (1 if s else 0)


def _gpus(gres: str) -> int:
    return sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def default_partition() -> str:
    for name in _run(["sinfo", "-h", "-o", "%P"]).split():
        if name.endswith("*"):
            return name[:-1]
    raise LaunchError("cluster.partition = null and the cluster has no default partition. "
                      "Fix: set cluster.partition (see `sinfo`)")


def partition_limits(partition: str | None) -> PartitionLimits:
    """The largest node of `partition` and its limits; LaunchError if the partition does not exist."""
    name = partition or default_partition()
    out = _run(["sinfo", "-h", "-N", "-p", name, "-o", "%N|%c|%m|%G|%l"])
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    if not rows:
        known = sorted({p.rstrip("*") for p in _run(["sinfo", "-h", "-o", "%P"]).split()})
        raise LaunchError(f"cluster.partition = {name!r}: no such partition on this cluster "
                          f"(it has {', '.join(known) or 'none'}). Fix: set cluster.partition to one of them")
    nodes = {r[0] for r in rows}
    return PartitionLimits(name=name, nodes=len(nodes), cpus_per_node=max(int(r[1]) for r in rows),
                           mem_mb_per_node=max(int(r[2].rstrip("+")) for r in rows),
                           gpus_per_node=max(_gpus(r[3]) for r in rows), max_time_min=_minutes(rows[0][4]))


def slurm_reachable() -> bool:
    """Whether this machine can ask a Slurm controller (`sinfo` on PATH and answering)."""
    if shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, timeout=5,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def declared_limits(cluster: Any) -> PartitionLimits | None:
    """`cluster.limits` as PartitionLimits, or None when the cluster config declares none."""
    d = cluster.get("limits") or {}
    needed = ("nodes", "cpus_per_node", "mem_gb_per_node", "gpus_per_node")
    if any(d.get(k) is None for k in needed):
        return None
    mem_mb = int(float(d["mem_gb_per_node"]) * 1024)
    return PartitionLimits(name=cluster.get("partition") or "default", nodes=int(d["nodes"]),
                           cpus_per_node=int(d["cpus_per_node"]), mem_mb_per_node=mem_mb,
                           gpus_per_node=int(d["gpus_per_node"]), max_time_min=d.get("max_time_min"),
                           gpu_mem_gb=d.get("gpu_mem_gb"), source=f"cluster.limits of cluster={cluster.name}")


def limits_for(cluster: Any, submitting: bool = True) -> PartitionLimits:
    """The partition's limits: sinfo's (with the declared GPU memory), and only sinfo's when
    submitting; for a plan (`submitting=False`), the cluster config's `limits` where Slurm cannot be
    asked or has no such partition (another site's config). LaunchError when neither is there."""
    declared = declared_limits(cluster)
    if submitting or slurm_reachable():
        try:
            found = partition_limits(cluster.get("partition"))
        except LaunchError:
            if submitting or declared is None:
                raise
            return declared
        return replace(found, gpu_mem_gb=declared.gpu_mem_gb if declared else None)
    if declared is None:
        raise LaunchError(f"cluster = {cluster.name}: it declares no partition limits (cluster.limits) and Slurm "
                          "cannot be asked here (no sinfo). Fix: choose your site's cluster config (e.g. "
                          f"cluster=h100), declare nodes, cpus_per_node, mem_gb_per_node and gpus_per_node under "
                          f"limits in conf/cluster/{cluster.name}.yaml, or plan where sinfo answers")
    return declared


def job_states(job_ids: list[str]) -> dict[str, JobState]:
    """State of each job: squeue for live jobs (the controller, current), sacct for ended ones (squeue
    lists them for a few minutes, but without who cancelled them or their exit code) and for jobs
    squeue no longer lists."""
    ids = [str(j) for j in job_ids if j]
    if not ids:
        return {}
    states: dict[str, JobState] = {}
    wanted = set(ids)
    for line in _run(["squeue", "-h", "-a", "-t", "all", "-o", "%i|%j|%T|%r"]).splitlines():
        parts = line.strip().split("|")
        if len(parts) == 4 and parts[0] in wanted:
            states[parts[0]] = JobState(parts[0], parts[1], parts[2], parts[3] if parts[3] != "None" else "")
    rest = [j for j in ids if j not in states]
    restarts: dict[str, int] = {}
    if shutil.which("sacct"):
        # -D lists every run of a requeued job: count them; the last line is the current state.
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-D", "-j", ",".join(ids), "-o",
                              "JobID,JobName,State,ExitCode,Elapsed"], capture_output=True, text=True,
                             timeout=60, check=False).stdout
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) != 5 or parts[0] not in wanted:
                continue
            state = parts[2].split()[0]  # "CANCELLED by 0" -> CANCELLED
            if state == "REQUEUED":
                restarts[parts[0]] = restarts.get(parts[0], 0) + 1
            ended = parts[0] not in rest and states[parts[0]].state not in LIVE and state not in LIVE
            if parts[0] in rest or ended:  # sacct also says by whom and how it ended
                states[parts[0]] = JobState(parts[0], parts[1], state, f"exit {parts[3]}", detail=parts[2],
                                            exit_code=parts[3], elapsed=parts[4])
    return {j: replace(s, restarts=restarts.get(j, 0)) for j, s in states.items()}


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        subprocess.run(["scancel", *job_ids], capture_output=True, timeout=60, check=False)
