"""Compose the config tree and check what types cannot: ranges, paths and dataset columns.

Everything here runs before any model loads, so a bad value costs a second, not a job. The checks
themselves live by concern in `hala_exp.config.checks`; this module decides their order.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.config.checks.allam import check_allam
from hala_exp.config.checks.cluster import check_cluster, check_runtime
from hala_exp.config.checks.engine import check_engine
from hala_exp.config.checks.eval import check_heldout
from hala_exp.config.checks.hala import check_hala
from hala_exp.config.checks.logger import check_logger
from hala_exp.config.checks.store import check_writable_dir
from hala_exp.config.checks.systems import check_systems
from hala_exp.config.checks.training import check_training_batches
from hala_exp.config.errors import ConfigError, check_choice, fail
from hala_exp.config.schema import register

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

__all__ = ["CONF_DIR", "ConfigError", "compose", "validate"]


def compose(overrides: list[str] | None = None, hydra: bool = False) -> DictConfig:
    """Compose `conf/config.yaml` with overrides, outside a Hydra app (tests, tools); with `hydra`,
    Hydra's own node too (`cfg.hydra.launcher`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        return hydra_compose(config_name="config", overrides=list(overrides or []), return_hydra_config=hydra)


def _check_targets(cfg: DictConfig) -> None:
    """Each `targets` pattern names a step of the graph (the graph is built from config only)."""
    if cfg.targets:
        from hala_exp.recipes import build_graph

        build_graph(cfg)  # raises ConfigError naming the pattern that matches nothing


def _check_common(cfg: DictConfig) -> None:
    """What every recipe uses: the engine, where stages run, the cluster, tracking, checkpoints."""
    check_engine(cfg.engine)
    check_runtime(cfg)
    check_cluster(cfg.cluster)
    check_logger(cfg.logger)
    if cfg.train.save_steps < 0:
        fail("train.save_steps", cfg.train.save_steps, "must be >= 0", "use 0 to keep no checkpoints")
    _check_lease_times()


def _check_lease_times() -> None:
    """The lease's environment settings (`hala_exp.pipeline.lease`), read when the first step runs."""
    from hala_exp.pipeline.lease import HEARTBEAT_ENV, HEARTBEAT_S, STALE_ENV, STALE_S, seconds

    for env, default in ((STALE_ENV, STALE_S), (HEARTBEAT_ENV, HEARTBEAT_S)):
        try:
            seconds(env, default)
        except ValueError as e:
            raise ConfigError(str(e)) from None


def validate(cfg: DictConfig, check_data: bool = True, batches: bool = True) -> None:
    """Raise ConfigError on the first value that cannot work. `batches=False`: leave the training
    batches to the compiler (`hala_exp.plan`), which checks each training step's split as it plans it."""
    check_choice("recipe", cfg.recipe, ("hala", "allam", "compare"))
    check_choice("store_verify", cfg.store_verify, ("size", "hash"))
    if check_data:
        check_writable_dir("store", cfg.store)  # a plan reads it; a run's first step writes it
    _check_common(cfg)
    check_heldout(cfg, check_data)
    if cfg.recipe == "allam":
        check_allam(cfg, check_data)
    elif cfg.recipe == "compare":
        check_systems(cfg, check_data)
    else:
        check_hala(cfg, check_data)
    if batches:
        check_training_batches(cfg)
    _check_targets(cfg)
