"""Sweeps live in the top-level `sweeps/` folder; they are registered as Hydra's config group `sweep`.

`hala-exp -m +sweep=slerp_t` then composes `sweeps/slerp_t.yaml` into the global package, where its
`hydra.sweeper.params` define the points (the basic sweeper locally, any Hydra launcher on a cluster).
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

SWEEPS_DIR = Path(__file__).resolve().parents[2] / "sweeps"


def register_sweeps() -> None:
    """Store each `sweeps/<name>.yaml` as `sweep/<name>` (package `_global_`)."""
    cs = ConfigStore.instance()
    for f in sorted(SWEEPS_DIR.glob("*.yaml")):
        cs.store(group="sweep", name=f.stem, node=OmegaConf.load(f), package="_global_",
                 provider="hala-exp", replace=True)
