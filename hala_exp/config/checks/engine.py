"""Checks of the generation engine."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.errors import check_choice, fail
from hala_exp.engines.backends import BACKENDS


def check_engine(e: DictConfig) -> None:
    check_choice("engine.backend", e.backend, BACKENDS)
    check_choice("engine.enable_prefix_caching", e.enable_prefix_caching, ("auto", "on", "off"))
    if e.shard_rows <= 0:
        fail("engine.shard_rows", e.shard_rows, "must be positive", "set engine.shard_rows=512")
    if e.tensor_parallel_size <= 0:
        fail("engine.tensor_parallel_size", e.tensor_parallel_size, "must be positive",
             "set it to the number of GPUs one model is split over (1, 2, 4 or 8)")
    if not 0.0 < e.gpu_memory_utilization <= 1.0:
        fail("engine.gpu_memory_utilization", e.gpu_memory_utilization, "is a fraction of GPU memory in (0, 1]",
             "set engine.gpu_memory_utilization=0.9")
    if e.max_model_len is not None and e.max_model_len <= 0:
        fail("engine.max_model_len", e.max_model_len, "must be positive", "set it to null or e.g. 4096")
