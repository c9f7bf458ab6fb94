"""What a stage declares about itself, read by the graph, the runner and the launchers.

One `StageInfo` per stage, next to its function: its version, the slice of the resolved config
its step's key hashes, what it resumes from, and whether it trains. Whatever needs one of these
facts reads them here, so a new stage or setting touches its own module and config only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf

Slice = Callable[..., dict[str, Any]]  # (resolved config, *what the graph passes) -> a JSON dict
# How one run of a stage uses the GPUs of its job: none (CPU only); one (a single device); engine (its
# generation engine's: vLLM's tensor-parallel size, one for transformers); spread (one process over
# every visible GPU). A training stage (`trains`) runs one process per GPU instead.
GpuUse = Literal["none", "one", "engine", "spread"]


@dataclass(frozen=True)
class Trains:
    """A training stage: run under `accelerate launch` when given more than one GPU (or node)."""

    model: str  # config group of the model it trains (its size picks DDP or FSDP)
    bf16: str  # config key of its bf16 switch
    batch: str | None = None  # config node of its global_batch (in its key) and micro_batch
    # (in `options`); None: the `model` group


@dataclass(frozen=True)
class Weights:
    """The model a step puts on its GPUs: billions of parameters, bytes each, and the config key
    that states its size (named when it does not fit)."""

    params_b: float
    bytes_per_param: float
    key: str

    @property
    def gb(self) -> float:
        return self.params_b * self.bytes_per_param


@dataclass(frozen=True)
class StageInfo:
    """One stage as the pipeline sees it; `fn` is `module:function`, imported only to run it."""

    name: str
    version: int  # bump when the code changes what the stage writes: old outputs stop being reused
    fn: str  # hashed into the key: never rename without a version bump
    config: Slice  # the key slice: exactly the settings that change what it writes
    # The input under which it gets a directory that survives kills and requeues, or None.
    partial: Literal["shards", "checkpoints"] | None = None
    trains: Trains | None = None
    tracked: bool = True  # False: no W&B run of its own (its counts are in results.json)
    # Settings kept out of the key: what changes only its messages (warning thresholds, the config key a
    # message names), and how it runs (memory, threads).
    messages: Callable[[DictConfig], dict[str, Any]] | None = None
    options: Slice | None = None  # called like `config`; a training stage's micro-batch is added to it
    # GB its job needs, estimated from the config (None: unknown); a Slurm job asks for it unless
    # the resources preset sets the stage's mem_gb itself.
    memory_gb: Callable[[DictConfig], float | None] | None = None
    # GB a step writes into the store, estimated from the config and the graph's arguments like `config`
    # (None: unknown), for the free-space checks (`hala_exp.pipeline.disk_space`); a training
    # stage's follows from `trains`.
    writes_gb: Callable[..., float | None] | None = None
    gpus: GpuUse = "one"
    # The environment its libraries live in: core (TRL, mergekit, llm-compressor, lighteval) or vllm. A
    # runtime that names an environment of that name (`runtime.envs.<stack>`) runs it there, unless
    # `runtime.stages.<stage>` says otherwise (`hala_exp.pipeline.interpreter`).
    stack: Literal["core", "vllm"] = "core"
    # The model whose weights it puts on GPUs, from the config and its step's key slice (None:
    # unknown); a training stage's follows from `trains`. Read by the cluster plan's memory check.
    weights: Callable[[DictConfig, dict[str, Any]], Weights | None] | None = None
    # Its headline metric: metric names (shell patterns) in order of preference, the first one it
    # reported shown on its console line and in the report's step table (`console.headline`); () none.
    headline: tuple[str, ...] = ()

    @property
    def sharded(self) -> bool:
        """Its work (rows, or lighteval task groups) goes through `run_sharded`, so W workers may
        compute its shards (`fanout`)."""
        return self.partial == "shards"


def plain(node: Any) -> Any:
    """A config node as plain JSON-able Python (interpolations resolved); anything else as is."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def source_slice(src: DictConfig) -> dict[str, Any]:
    """A data source's config as it enters a key: without `streaming`, which changes how a hub
    dataset's rows are read, not which rows."""
    return {k: v for k, v in plain(src).items() if k != "streaming"}


def without_empty(values: dict[str, Any], *names: str) -> dict[str, Any]:
    """`values` less the named settings (every one, when none is named) while they are an empty map or
    list: a setting added to a stage later enters its key only once it is set, so every config that
    does not use it keeps the key it had."""
    return {k: v for k, v in values.items() if not ((not names or k in names) and v in ({}, []))}


def micro_batch_option(cfg: DictConfig, trains: Trains) -> dict[str, Any]:
    """A training step's micro-batch, handed to it under `options`: it sets memory per device, not the
    weights (the global batch does), so it stays out of the key (README: Batch)."""
    return {"micro_batch": int(OmegaConf.select(cfg, trains.batch or trains.model).micro_batch)}


def pick(node: DictConfig, *keys: str) -> dict[str, Any]:
    return {k: plain(node[k]) for k in keys}


def train_with(train: DictConfig, overrides: DictConfig) -> dict[str, Any]:
    """The `train` group with one fine-tune's own settings (those not null) on top."""
    return {**plain(train), **{k: v for k, v in plain(overrides).items() if v is not None}}


def teacher_engine(cfg: DictConfig) -> dict[str, Any]:
    """The engine with the teacher's own tensor-parallel size, when it sets one."""
    engine = plain(cfg.engine)
    tp = cfg.teacher.tensor_parallel_size
    return engine if tp is None else {**engine, "tensor_parallel_size": tp}


def group_weights(cfg: DictConfig, group: str, fp8: bool = False) -> Weights | None:
    """The weights of config group `group`'s model (`<group>.params_b` in its dtype, or FP8), if sized."""
    from hala_exp.merging.memory import FP8_BYTES_PER_PARAM, dtype_bytes

    node = OmegaConf.select(cfg, group)
    if node is None or node.get("params_b") is None:
        return None
    per = FP8_BYTES_PER_PARAM if fp8 else float(dtype_bytes(node.get("dtype")))
    return Weights(float(node.params_b), per, f"{group}.params_b")
