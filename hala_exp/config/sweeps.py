"""Sweeps live in the top-level `sweeps/` folder, searches in `searches/`; they are registered as
Hydra's config groups `sweep` and `search`.

`hala-exp -m +sweep=slerp_t` then composes `sweeps/slerp_t.yaml` into the global package, where its
`hydra.sweeper.params` define the points (the basic sweeper locally, any Hydra launcher on a cluster);
`hala-exp -m +search=merge_t` composes `searches/merge_t.yaml`, which selects the `hala_search`
sweeper (hala_exp/search) and gives its space and objectives.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

SWEEPS_DIR = Path(__file__).resolve().parents[2] / "sweeps"
SEARCHES_DIR = SWEEPS_DIR.parent / "searches"


def register_sweeps() -> None:
    """Store each `sweeps/<name>.yaml` as `sweep/<name>` and `searches/<name>.yaml` as
    `search/<name>` (package `_global_`)."""
    cs = ConfigStore.instance()
    for group, folder in (("sweep", SWEEPS_DIR), ("search", SEARCHES_DIR)):
        for f in sorted(folder.glob("*.yaml")):
            cs.store(group=group, name=f.stem, node=OmegaConf.load(f), package="_global_",
                     provider="hala-exp", replace=True)
