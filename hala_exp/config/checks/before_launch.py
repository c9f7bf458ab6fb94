"""What must be refused before Hydra acts on a command: a Hydra callback (`conf/config.yaml`).

Hydra writes `.hydra/` into the run (or sweep) directory before the app starts, so a directory that
cannot be written is refused here first. With Hydra's submitit launcher (`hydra/launcher=slurm_h100`)
Hydra also submits a sweep's jobs before the app sees any point's config: the sweep's shared config
(the command without its swept values) is validated and its cluster plan checked here, so a plan that
cannot work is refused before any job is queued, not inside each job once it starts.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from hala_exp.config.checks.store import check_writable_dir
from hala_exp.config.errors import ConfigError


def _refuse(e: ConfigError) -> None:
    print(f"hala-exp: config error: {e}", file=sys.stderr)
    sys.exit(2)


def submits_jobs(config: DictConfig) -> bool:
    """Whether Hydra's own launcher submits the command's points as jobs (hydra-submitit-launcher)."""
    return "submitit" in str(config.hydra.launcher.get("_target_", ""))


class BeforeLaunch(Callback):
    """Refuses an unwritable run or sweep directory, and a submitit sweep whose plan cannot work."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        try:
            check_writable_dir("hydra.run.dir", str(config.hydra.run.dir))
        except ConfigError as e:
            _refuse(e)

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        try:
            check_writable_dir("hydra.sweep.dir", str(config.hydra.sweep.dir))
        except ConfigError as e:
            _refuse(e)
        if not submits_jobs(config):
            return  # the local launcher runs each point's app, which checks it before any step
        from hala_exp.config import validate
        from hala_exp.launch import LaunchError
        from hala_exp.launch.plan_check import check_cluster_plan
        from hala_exp.plan.compiler import compile_plan

        task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        try:
            validate(task)
            plan = compile_plan(task, config.hydra.launcher, tracking=False)
        except (ConfigError, LaunchError) as e:
            _refuse(e)
        check_cluster_plan(plan)
