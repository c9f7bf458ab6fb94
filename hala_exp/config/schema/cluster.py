"""Where steps run: interpreters per stage, GPUs, Slurm site settings and per-stage resource requests.
None of it enters a step's key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING


@dataclass
class RuntimeConfig:
    """Which interpreter each stage runs in. A stage whose interpreter differs from the current one
    runs as `<python> -m hala_exp.step_process SPEC.json` (vLLM and llm-compressor cannot share an environment).
    """

    name: str = "current"
    envs: dict[str, str] = field(default_factory=dict)  # environment name -> python interpreter path
    # stage -> environment name or interpreter path; null: the current interpreter
    stages: dict[str, Optional[str]] = field(default_factory=dict)
    # GPUs for training stages: more than one in total runs them under `accelerate launch`.
    gpus_per_node: int = 1
    nodes: int = 1
    main_process_port: int = 29500


@dataclass
class StageResources:
    """What one stage's job asks Slurm for. Unset (null) fields come from `resources.default`."""

    nodes: Optional[int] = None
    gpus_per_node: Optional[int] = None
    tasks_per_node: Optional[int] = None
    cpus_per_task: Optional[int] = None
    mem_gb: Optional[float] = None
    timeout_min: Optional[int] = None
    # Sharded stages only (declared with partial="shards": translate_bootstrap, judge, translate_corpus):
    # run the step as this many workers, each on its own shards (a Slurm job array, or local
    # processes), then one gather.
    workers: Optional[int] = None
    array_parallelism: Optional[int] = None  # at most this many of the workers at once (Slurm); null: all


@dataclass
class ResourcesConfig:
    """Per-stage requests, keyed by stage (`sft`, `merge`, ...), scaled by model size per file."""

    name: str = MISSING
    default: StageResources = field(default_factory=lambda: StageResources(
        nodes=1, gpus_per_node=0, tasks_per_node=1, cpus_per_task=1, mem_gb=4, timeout_min=60))
    stages: dict[str, StageResources] = field(default_factory=dict)


@dataclass
class PartitionLimitsConfig:
    """What the partition's largest node offers, as declared for the site: read when Slurm cannot be
    asked (`sinfo` absent or failing, e.g. `plan=true` on a laptop). `gpu_mem_gb` is always read
    here: `sinfo` does not report it."""

    nodes: Optional[int] = None
    cpus_per_node: Optional[int] = None
    mem_gb_per_node: Optional[float] = None
    gpus_per_node: Optional[int] = None
    gpu_mem_gb: Optional[float] = None  # memory of one GPU
    max_time_min: Optional[int] = None  # null: no time limit


@dataclass
class ClusterConfig:
    """Site settings, so experiment configs stay portable between clusters."""

    name: str = MISSING
    submit: str = "local"  # local: run stages in this process | slurm: one job per stage
    partition: Optional[str] = None
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    setup: list[str] = field(default_factory=list)  # shell lines before each job: modules, venv, container
    env: dict[str, str] = field(default_factory=dict)  # exported in each job
    srun_args: list[str] = field(default_factory=list)  # e.g. pyxis --container-image=...
    max_requeues: int = 3  # preemptions / time limits a job survives before it fails
    signal_delay_s: int = 120  # USR2 this long before the time limit, to checkpoint and requeue
    limits: PartitionLimitsConfig = field(default_factory=PartitionLimitsConfig)
