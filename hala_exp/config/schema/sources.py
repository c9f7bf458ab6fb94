"""Where rows come from: instruction, parallel, raw-text and preference sources, shared by every group
that reads data (data, eval, allam, dpo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING


@dataclass
class SourceConfig:
    """Instruction rows from the hub or a local file, normalised to chat rows by an adapter.

    `adapter` names the dataset's schema (hala_exp/data/adapters.py): instruction (any two columns,
    named by *_field), openorca, hermes3, hala_sft, scp116k, realign_alpaca, gptj_pairwise, lamini, tulu3.
    """

    path: str = MISSING  # hub id, or a local file; "samples:<rel>" is inside the package
    adapter: str = "instruction"
    format: str = "hub"  # hub | jsonl | json | tsv | parquet
    subset: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
    # hub: read row by row from the hub's files instead of preparing the whole split on disk first
    # (the same rows: not part of the snapshot's key)
    streaming: bool = False
    id_field: Optional[str] = "id"  # null: ids are "<source>-<row index>"
    instruction_field: str = "question"
    response_field: str = "response"  # scp116k: which solution column is the reply
    rows: int = 1000  # rows read from the source: [offset, offset + rows)
    offset: int = 0
    weight: Optional[float] = None  # share of data.mix.total_rows; null: every row kept (up to rows)
    lang: str = "en"  # en | ar: the language the mix counts its rows in (counts.json "languages")
    drop_code: bool = False  # drop conversations that hold code (hala_exp/data/code.py)
    exclude_subsets: list[str] = field(default_factory=list)  # tulu3: `source` values to leave out
    min_english_ratio: float = 0.0  # tulu3: drop rows whose letters are less Latin than this


@dataclass
class ParallelSourceConfig:
    """Arabic/English sentence pairs (OPUS-100 candidates, Tatoeba, MMLU questions)."""

    path: str = MISSING
    adapter: str = "parallel"  # parallel (columns named by *_field) | opus100
    format: str = "hub"
    subset: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
    id_field: Optional[str] = None
    ar_field: str = "ar"  # dotted names reach into nested columns: "translation.ar"
    en_field: str = "en"
    rows: int = 1000
    offset: int = 0


@dataclass
class TextSourceConfig:
    """Raw text: columns of a local file or hub dataset, or whole files matched by a glob."""

    path: str = MISSING  # hub id, local file, "samples:<rel>"; for format=files a glob ("package:<rel glob>")
    format: str = "hub"  # hub | jsonl | tsv | parquet | files
    subset: str | None = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
    fields: list[str] = field(default_factory=lambda: ["text"])  # columns taken, each row gives one text per field
    rows: int = 1000
    offset: int = 0


@dataclass
class PreferenceSourceConfig:
    """Preference pairs: one prompt, a chosen and a rejected reply."""

    path: str = MISSING
    format: str = "hub"
    subset: str | None = None
    split: str = "train"
    revision: Optional[str] = None  # hub: branch, tag or commit; the snapshot is keyed by the commit
    prompt_field: str = "prompt"
    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    rows: int = 1000
    offset: int = 0
