"""The ALLaM recipe's groups: fertility, vocabulary expansion, continued pre-training and its SFT."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

from hala_exp.config.schema.sources import SourceConfig, TextSourceConfig


@dataclass
class FertilityConfig:
    """Tokens per word / per character on each language's text, for each tokenizer."""

    tokenizers: dict[str, str] = field(default_factory=dict)  # extra tokenizers to compare: label -> hub id / dir
    texts: dict[str, TextSourceConfig] = field(default_factory=dict)  # language label -> its text


@dataclass
class ExpandConfig:
    """Train an Arabic tokenizer and append its tokens to the base model's vocabulary."""

    enabled: bool = True
    corpus: TextSourceConfig = MISSING  # Arabic text the new tokenizer is trained on
    vocab_size: int = 32000  # of the Arabic tokenizer; tokens the base already has are not added twice
    init: str = "mean"  # mean (of the base pieces' rows) | random
    seed: int = 0


@dataclass
class CptConfig:
    """Continued pre-training on an Arabic/English mixture (causal LM on raw text, packed)."""

    arabic: dict[str, TextSourceConfig] = field(default_factory=dict)
    english: dict[str, TextSourceConfig] = field(default_factory=dict)
    translated: dict[str, TextSourceConfig] = field(default_factory=dict)  # Arabic translated from English
    heldout: dict[str, TextSourceConfig] = field(default_factory=dict)  # language -> eval text (loss per language)
    ratio: float = 0.45  # Arabic share of the training tokens (ALLaM's best: 45/55)
    use_translated: bool = False  # draw part of the Arabic share from `translated`
    translated_fraction: float = 0.5  # that part, when use_translated
    tokens: int = 1_000_000  # training tokens sampled for the mixture
    learning_rate: float = 2e-5
    # The batch (README: Batch): sequences per optimizer step over all the step's processes (in its
    # key), and per device per pass (memory only: out of the key); accumulation follows from the two.
    global_batch: int = 8
    micro_batch: int = 8
    # Removed (per-device batch_size and a fixed grad_accum): set, they are refused at validation.
    batch_size: Optional[int] = None
    grad_accum: Optional[int] = None
    max_length: int = 2048
    max_steps: int = 1000
    warmup_ratio: float = 0.01
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    packing: bool = True
    use_cpu: bool = False
    bf16: bool = True
    spike_threshold: float = 2.0  # a spike: grad_norm > threshold x median of the previous window
    spike_window: int = 20
    eval_steps: int = 0  # > 0: held-out loss every N steps too (eval_curve.jsonl), not only before/after
    seed: int = 0


@dataclass
class InstructConfig:
    """The ALLaM recipe's SFT stage (then DPO when dpo.enabled); its instruction sources are
    `data.translated`, as for every SFT on sources read as they are (data=allam_tiny, allam_wiki)."""

    enabled: bool = True  # false: the recipe stops after continued pre-training (mixture ablations)
    sources: Optional[dict[str, SourceConfig]] = None  # what data.translated replaced: refused when set


@dataclass
class AllamConfig:
    """The ALLaM studies' recipe: fertility -> expand_vocab -> cpt -> sft -> dpo -> evaluate."""

    fertility: FertilityConfig = field(default_factory=FertilityConfig)
    expand: ExpandConfig = field(default_factory=ExpandConfig)
    cpt: CptConfig = field(default_factory=CptConfig)
    sft: InstructConfig = field(default_factory=InstructConfig)
