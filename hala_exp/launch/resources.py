"""Per-stage resource requests (config group `resources/`), their check against a partition, and the
processes (so the batch split) a training step gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from hala_exp.launch import LaunchError
from hala_exp.launch.queue import PartitionLimits

if TYPE_CHECKING:
    from hala_exp.training.batch import BatchSplit

FIELDS = ("nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task", "mem_gb", "timeout_min")


@dataclass(frozen=True)
class Request:
    nodes: int
    gpus_per_node: int
    tasks_per_node: int
    cpus_per_task: int
    mem_gb: float
    timeout_min: int
    origin: dict[str, str] = field(default_factory=dict, compare=False)  # field -> config key it came from

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS}


def stage_request(resources: DictConfig, stage: str, estimated_mem_gb: float | None = None) -> Request:
    """The stage's entry in `resources.stages`, its unset fields taken from `resources.default`;
    an unset mem_gb is the stage's own estimate instead, when it has one (`StageInfo.memory_gb`)."""
    own = resources.stages.get(stage) or {}
    values, origin = {}, {}
    for f in FIELDS:
        v = own.get(f) if own else None
        if f == "mem_gb" and v is None and estimated_mem_gb is not None:
            values[f] = estimated_mem_gb
            origin[f] = f"resources.stages.{stage}.{f} (unset: the {stage} stage's estimate)"
            continue
        values[f] = resources.default[f] if v is None else v
        origin[f] = f"resources.default.{f}" if v is None else f"resources.stages.{stage}.{f}"
        if values[f] is None:
            raise LaunchError(f"resources.default.{f} = null: every request needs it. "
                              f"Fix: set resources.default.{f} in conf/resources/{resources.name}.yaml")
    return Request(int(values["nodes"]), int(values["gpus_per_node"]), int(values["tasks_per_node"]),
                   int(values["cpus_per_task"]), float(values["mem_gb"]), int(values["timeout_min"]), origin)


def estimated_mem_gb(cfg: DictConfig, stage: str) -> float | None:
    """What the stage says its job needs for this config, or None."""
    from hala_exp.stages import STAGES

    estimate = STAGES[stage].memory_gb
    return estimate(cfg) if estimate is not None else None


def check_request(step: str, stage: str, req: Request, part: PartitionLimits) -> None:
    """Raise LaunchError if `req` can never run on `part`, instead of letting it pend forever."""
    where = f"partition {part.name!r} ({part.describe()})"

    def fail(name: str, value: object, problem: str) -> None:
        key = req.origin.get(name, f"resources.stages.{stage}.{name}")
        raise LaunchError(f"step {step} ({stage}): {key} = {value}: {problem} on {where}. "
                          f"Fix: lower {key}, or choose another cluster.partition / resources preset")

    for name in FIELDS:
        value = getattr(req, name)
        if value < (0 if name == "gpus_per_node" else 1):
            fail(name, value, "must be positive")
    if req.nodes > part.nodes:
        fail("nodes", req.nodes, f"more nodes than the {part.nodes} there are")
    if req.tasks_per_node * req.cpus_per_task > part.cpus_per_node:
        fail("cpus_per_task", req.cpus_per_task,
             f"{req.tasks_per_node} task(s) x {req.cpus_per_task} CPUs is more than the "
             f"{part.cpus_per_node} CPUs of a node")
    if req.mem_gb * 1024 > part.mem_mb_per_node:
        fail("mem_gb", req.mem_gb, f"more memory than the {part.mem_mb_per_node / 1024:.1f} GB of a node")
    if req.gpus_per_node > part.gpus_per_node:
        fail("gpus_per_node", req.gpus_per_node, f"more GPUs than the {part.gpus_per_node} of a node")
    if part.max_time_min is not None and req.timeout_min > part.max_time_min:
        fail("timeout_min", req.timeout_min, f"longer than the partition's limit of {part.max_time_min} min")


def runs_in_one_job(launcher: DictConfig | None) -> bool:
    """Whether Hydra's submitit launcher runs each sweep point's whole pipeline as one job (the job is
    the allocation: its stages run in it, under runtime.*), rather than a job per step."""
    return launcher is not None and "submitit" in str(launcher.get("_target_", ""))


def on_slurm(cfg: DictConfig, launcher: DictConfig | None) -> bool:
    """Whether the run's steps run on Slurm: a job each (`cluster.submit=slurm`), or all in one job of
    Hydra's submitit `launcher`."""
    return cfg.cluster.submit == "slurm" or runs_in_one_job(launcher)


def training_processes(cfg: DictConfig, stage: str, launcher: DictConfig | None = None) -> tuple[int, str]:
    """The processes a step of training `stage` runs in, and the config keys that set them: its Slurm
    request under cluster.submit=slurm (a job per step), else, and always inside one job of Hydra's
    submitit `launcher`, runtime.gpus_per_node x runtime.nodes."""
    from hala_exp.training.batch import processes

    if cfg.cluster.submit == "slurm" and not runs_in_one_job(launcher):
        req = stage_request(cfg.resources, stage)
        where = f"{req.origin['gpus_per_node']} = {req.gpus_per_node} x {req.origin['nodes']} = {req.nodes}"
        return processes(req.gpus_per_node, req.nodes), where
    rt = cfg.runtime
    return processes(rt.gpus_per_node, rt.nodes), (f"runtime.gpus_per_node = {rt.gpus_per_node} x "
                                                    f"runtime.nodes = {rt.nodes}")


def stage_batch(cfg: DictConfig, stage: str, launcher: DictConfig | None = None) -> BatchSplit | None:
    """How a step of `stage` splits its global batch where this config runs it (None: it does not
    train); BatchError naming the keys when it cannot. What validation checks and the plan prints."""
    from hala_exp.launch.batch import training_batch
    from hala_exp.stages import STAGES
    from hala_exp.training.batch import BatchError

    trains = STAGES[stage].trains
    if trains is None:
        return None
    n, where = training_processes(cfg, stage, launcher)
    try:
        return training_batch(cfg, trains, n)
    except BatchError as e:
        raise BatchError(f"{e}; the {stage} step trains in {n} process(es): {where}") from None
