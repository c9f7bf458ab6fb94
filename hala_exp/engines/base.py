"""The generation interface every stage uses: batched prompts in, texts out.

Translation, judging and evaluation call `Engine.chat` (or `generate` for raw prompts); the
back-end (transformers on CPU, vLLM on GPU nodes) is chosen by `engine.backend` alone
(`engines.backends.make_engine`). The back-ends import this module, never the other way round.
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
