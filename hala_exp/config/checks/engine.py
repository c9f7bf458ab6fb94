"""Checks of the generation engine."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from hala_exp.config.errors import check_choice, fail
from hala_exp.engines.backends import BACKENDS
from hala_exp.engines.domains import ENGINE, MAX_NEW_TOKENS, domain_problem


def check_engine(e: DictConfig) -> None:
    check_choice("engine.backend", e.backend, BACKENDS)
    check_choice("engine.enable_prefix_caching", e.enable_prefix_caching, ("auto", "on", "off"))
    if e.shard_rows <= 0:
        fail("engine.shard_rows", e.shard_rows, "must be positive", "set engine.shard_rows=512")
    for name, domain in ENGINE.items():
        check_domain(f"engine.{name}", e[name], domain)


def check_domain(key: str, value: object, domain: tuple) -> None:
    """`value` of `key` lies in its domain (`hala_exp.engines.domains`, vLLM's ranges)."""
    problem = domain_problem(value, domain)
    if problem:
        fail(key, value, problem[0], f"set {key}={problem[1]}")


def check_generation(cfg: DictConfig, groups: tuple[str, ...]) -> None:
    """Each generating group's `max_new_tokens` (vLLM's `max_tokens`) and own tensor-parallel size."""
    for group in groups:
        node = OmegaConf.select(cfg, group)
        check_domain(f"{group}.max_new_tokens", node.max_new_tokens, MAX_NEW_TOKENS)
        if "tensor_parallel_size" in node:
            check_domain(f"{group}.tensor_parallel_size", node.tensor_parallel_size, ENGINE["tensor_parallel_size"])
