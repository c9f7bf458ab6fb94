"""`hydra/sweeper=hala_search`: multi-objective search with optuna (NSGA-II by default).

Registered in Hydra's ConfigStore at import (Hydra imports every `hydra_plugins` module when it
scans for plugins), so it imports nothing heavy: optuna loads when a search starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper

from hala_exp.search.sweeper import SearchSweeper as _Search


@dataclass
class HalaSearchConf:
    _target_: str = "hydra_plugins.hala_exp_search.search_sweeper.HalaSearchSweeper"
    # results.json metrics to optimise, `STEP.METRIC:min` (lower is better) or `:max`
    objectives: list[str] = field(default_factory=list)
    # key -> Hydra sweep syntax: interval(0, 1), tag(log, interval(...)), range(a, b, step), choice(...)
    params: dict[str, str] = field(default_factory=dict)
    n_trials: int = 8  # completed trials to reach; run the command again with more to extend a search
    batch_size: int = 1  # trials launched together (parallel Slurm jobs under hydra/launcher=slurm_h100)
    # a class of optuna.samplers and its keyword arguments
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "NSGAIISampler", "population_size": 4,
                                                             "seed": 0})


ConfigStore.instance().store(group="hydra/sweeper", name="hala_search", node=HalaSearchConf, provider="hala-exp")


class HalaSearchSweeper(_Search, Sweeper):
    """Hydra instantiates sweepers only from the `hydra_plugins` namespace; the code is hala_exp.search."""
