"""Which Python a stage runs in: its own environment's (`runtime.stages`, `runtime.envs`) or this one.

Read by validation, the task check, the runner and Slurm submission, so it imports nothing of the
pipeline that runs steps.
"""

from __future__ import annotations

import os
import sys

from omegaconf import DictConfig


def environment_of(runtime: DictConfig, stage: str) -> str | None:
    """The environment `stage` runs in: `runtime.stages[stage]` (a name in `runtime.envs` or a path to
    a python), else its declared stack (`StageInfo.stack`) when `runtime.envs` has one of that name,
    else None (this interpreter)."""
    from hala_exp.stages import STAGES

    choice = runtime.stages.get(stage) if runtime.stages else None
    if choice is None and stage in STAGES and STAGES[stage].stack in (runtime.envs or {}):
        choice = STAGES[stage].stack
    return choice


def interpreter_for(runtime: DictConfig, stage: str) -> str | None:
    """The interpreter `stage` must run in (`environment_of`), or None for this one."""
    return _python(runtime, environment_of(runtime, stage))


def _python(runtime: DictConfig, choice: str | None) -> str | None:
    """The interpreter of an environment name or path, None for none or this one."""
    if choice is None:
        return None
    python = runtime.envs.get(choice, choice) if runtime.envs else choice
    if os.path.abspath(python) == os.path.abspath(sys.executable):  # a venv's python is a symlink:
        return None  # compare the paths, not their targets, or two venvs would look the same
    return python


def environment_name(runtime: DictConfig, stage: str) -> str:
    """`runtime.stages.<stage>` as plans show it: the environment's name and interpreter, or `current`."""
    name = environment_of(runtime, stage)
    python = _python(runtime, name)
    if python is None:
        return "current"
    return f"{name} ({python})" if name != python else python
