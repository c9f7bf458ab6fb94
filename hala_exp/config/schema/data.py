"""The HALA data group: the bootstrap and judge sources, the corpus mix and the translation gates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

from hala_exp.config.schema.sources import ParallelSourceConfig, SourceConfig


@dataclass
class MixConfig:
    """How the corpus sources become one dataset (hala_exp/data/mix.py)."""

    dedup: str = "normalized"  # none | exact | normalized (case, Unicode form, spacing, punctuation)
    total_rows: Optional[int] = None  # needed when sources carry weights
    # Share of SFT rows in Arabic, the rest as their English originals; null: Arabic only (the paper)
    arabic_ratio: Optional[float] = None
    shuffle: bool = True
    bucket_rows: int = 100_000  # rows held in memory at once while shuffling


@dataclass
class GatesConfig:
    """Checks on every translation; a row failing one is set aside with the reason (gates.py)."""

    enabled: bool = True
    min_arabic_ratio: float = 0.5  # share of letters in Arabic script
    min_length_ratio: float = 0.3  # len(output) / len(source), in characters
    max_length_ratio: float = 3.0
    length_min_chars: int = 20  # shorter sources skip the length check
    reject_cut: bool = True  # output stopped at the token limit
    echo_min_chars: int = 20  # sources at least this long count as echoed when found in the output
    leak_min_chars: int = 12  # a fixed part of the prompt at least this long counts as leaked
    # ... and so does any run of this many consecutive words of one (unless the source has it too); 0: off
    leak_min_words: int = 4
    leak_markers: list[str] = field(default_factory=lambda: ["<|im_start|>", "<|im_end|>"])
    # Any special token of the translating model's tokenizer in an output (added at run time to the
    # strings listed here) rejects it as special_token.
    reject_special_tokens: bool = True
    special_tokens: list[str] = field(default_factory=list)
    # Arabic followed by this many words in another script that the source does not hold (a note
    # such as "Note: this is a literal translation") is trailing_script; 0: off. Names, code and
    # acronyms kept from the source do not count.
    trailing_min_words: int = 3


@dataclass
class DataConfig:
    name: str = MISSING
    bootstrap: SourceConfig = MISSING  # Orca pairs the teacher translates (stage 2)
    parallel: ParallelSourceConfig = MISSING  # OPUS candidates the judge filters (stage 3)
    corpus: dict[str, SourceConfig] = field(default_factory=dict)  # the mix (stage 5)
    mix: MixConfig = field(default_factory=MixConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    leave_out: Optional[str] = None  # a corpus source left out of the mix (leave-one-source-out ablation)
    # Arabic instruction sources already translated: the student's SFT reads them directly and the
    # teacher, judge and translator stages (1-5) are left out of the graph. Empty: the full recipe.
    translated: dict[str, SourceConfig] = field(default_factory=dict)
    seed: int = 0
