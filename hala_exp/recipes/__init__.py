"""Recipes: each turns the config into its stage graph, wiring which step's output feeds which.

`recipe=hala` (translate-and-tune, the default), `recipe=allam` (vocabulary expansion and
continued pre-training) or `recipe=compare` (`systems` evaluated as they are). A recipe only wires
steps; what each step reads of the config, and so its key, is its stage's declaration
(`hala_exp.stages`).
"""

from __future__ import annotations

from collections.abc import Callable

from omegaconf import DictConfig

from hala_exp.recipes import allam, compare, hala
from hala_exp.recipes.graph import Step, select

RECIPES: dict[str, Callable[[DictConfig], list[Step]]] = {"hala": hala.build, "allam": allam.build,
                                                          "compare": compare.build}


def recipe_for(cfg: DictConfig) -> Callable[[DictConfig], list[Step]]:
    """The graph builder of `cfg.recipe` (validation refuses other names; unset means hala)."""
    return RECIPES.get(cfg.get("recipe", "hala"), hala.build)


def build_graph(cfg: DictConfig) -> list[Step]:
    """Steps in an order where every input comes before its consumer (only those `targets` need).

    Source snapshots come first: no model step starts until every source has been read and checked.
    """
    steps = select(recipe_for(cfg)(cfg), list(cfg.get("targets") or []))
    return [s for s in steps if s.stage == "snapshot"] + [s for s in steps if s.stage != "snapshot"]
