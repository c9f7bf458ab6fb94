"""Checks of where steps run: interpreters per stage, GPU counts and the training strategy."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.config.errors import check_choice, fail
from hala_exp.training.launch import STRATEGIES


def check_runtime(cfg: DictConfig) -> None:
    from hala_exp.stages import STAGES

    rt = cfg.runtime
    for stage, env in rt.stages.items():
        if env is None:
            continue
        if stage not in STAGES:
            fail(f"runtime.stages.{stage}", env, "is not a stage",
                 f"use one of {', '.join(sorted(STAGES))}")
        if env not in rt.envs and "/" not in env:
            fail(f"runtime.stages.{stage}", env, "names no environment of runtime.envs and is not a path",
                 f"add runtime.envs.{env}=/path/to/python or give the interpreter's path")
    for name, python in rt.envs.items():
        if not Path(python).is_file():
            fail(f"runtime.envs.{name}", python, "this interpreter does not exist",
                 f"create the environment (README: Runtimes) or set runtime.envs.{name}")
    if rt.gpus_per_node <= 0 or rt.nodes <= 0:
        fail("runtime.gpus_per_node", rt.gpus_per_node, "GPU and node counts must be positive",
             "set runtime.gpus_per_node=1 runtime.nodes=1")
    check_choice("train.distributed", cfg.train.distributed, ("auto", *STRATEGIES))


def check_cluster(c: DictConfig) -> None:
    check_choice("cluster.submit", c.submit, ("local", "slurm"))
    if c.max_requeues < 0:
        fail("cluster.max_requeues", c.max_requeues, "must be >= 0", "use 0 to never requeue")
