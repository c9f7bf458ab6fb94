"""Checks of fine-tuning (`train` and each model's own overrides) and of the merge."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.errors import ConfigError, fail
from hala_exp.training.batch import BatchError, removed_settings, split


def check_train(cfg: DictConfig, groups: tuple[str, ...]) -> None:
    """The `train` group, and each fine-tuned model's own overrides of it, must train at all."""
    if cfg.train.max_steps == 0 or cfg.train.epochs <= 0:
        fail("train.max_steps", cfg.train.max_steps, "training would do nothing",
             "set train.max_steps=-1 (use epochs) or a positive number")
    for group in groups:
        own = cfg[group].train
        if own.max_steps == 0 or (own.epochs is not None and own.epochs <= 0):
            field_, value = ("max_steps", own.max_steps) if own.max_steps == 0 else ("epochs", own.epochs)
            fail(f"{group}.train.{field_}", value, "that fine-tune would do nothing",
                 f"set {group}.train.{field_}=null (use train.{field_}) or a positive number")


def check_batch(key: str, node: DictConfig) -> None:
    """A group's batch: no removed setting (each refused with what replaced it), and a global batch
    that its micro-batch divides (one process; `check_training_batches` checks the steps' own counts)."""
    found = removed_settings(key, node)
    if found:
        raise ConfigError(found[0])
    try:
        split(node.global_batch, node.micro_batch, 1, key)
    except BatchError as e:
        raise ConfigError(str(e)) from None


def _hydra_launcher() -> DictConfig | None:
    """The command's `hydra.launcher` when Hydra composed it (None in a bare `compose`)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().launcher if HydraConfig.initialized() else None


def check_training_batches(cfg: DictConfig) -> None:
    """Each training step's global batch splits over the processes it will train in (`stage_batch`:
    with Hydra's submitit launcher, those of the pipeline's job). Every training stage is tried; only
    when one fails is the graph built (35-80 ms, so not on every start) to see whether a step of that
    stage runs at all: a disabled dpo group is never refused."""
    from hala_exp.launch import LaunchError
    from hala_exp.launch.resources import stage_batch
    from hala_exp.stages import STAGES

    launcher = _hydra_launcher()
    failed: dict[str, Exception] = {}
    for stage, info in STAGES.items():
        if info.trains is not None:
            try:
                stage_batch(cfg, stage, launcher)
            except (BatchError, LaunchError) as e:
                failed[stage] = e
    if not failed:
        return
    from hala_exp.recipes import build_graph

    for step in build_graph(cfg):
        if step.stage in failed:
            raise ConfigError(str(failed[step.stage])) from None


def check_merge(cfg: DictConfig) -> None:
    """`merge.t` (a number in [0, 1], or a per-layer gradient / filtered form), then `merge.method`, its
    input contract and its parameters against mergekit's registry (cached per mergekit version)."""
    from hala_exp.merging.domains import t_problems
    from hala_exp.merging.methods import plain_setting

    found = t_problems(plain_setting(cfg.merge.t))
    if found:
        raise ConfigError("\n".join(found))
    if cfg.merge.method == "none":
        return
    from hala_exp.merging.methods import method_specs, option_fields, option_problems, problems
    from hala_exp.pipeline.interpreter import interpreter_for

    python = interpreter_for(cfg.runtime, "merge")
    try:
        specs = method_specs(python)
        fields = option_fields(python)
    except RuntimeError as e:
        raise ConfigError(f"merge.method = {cfg.merge.method!r}: cannot be checked, {e}. Fix: install mergekit "
                          f"where the merge runs ({python or 'this environment'}), or set merge=none") from e
    found = problems(cfg.merge, specs) + option_problems(dict(cfg.merge.get("options") or {}), fields)
    if found:
        raise ConfigError("\n".join(found))
