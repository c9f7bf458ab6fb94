"""The paper's Table 2 source: English MMLU questions aligned with a translation of MMLU.

English rows come from `cais/mmlu` (config `all`, split `test`, columns `question`, `subject`);
the Arabic from the Arabic subset of `openai/MMMLU` (config `AR_XY`, split `test`, columns
`Question`, `Subject`). Both keep MMLU's row order within a subject, so the k-th English question
of a subject is aligned with the k-th Arabic question of the same subject. A subject whose row
counts differ cannot be aligned by position and fails loudly instead of pairing wrong rows.

Each aligned item has the id `<subject>/<row within subject>`; the evaluation stage samples n of
these ids with a fixed seed (`sample_ids`), so every system is scored on the same items.
Either side may be a local file (csv, jsonl, parquet) with the same columns, for offline clusters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.sources import iter_local

FORMATS = ("hub", "csv", "jsonl", "parquet")


def _rows(side: DictConfig) -> Iterator[dict[str, Any]]:
    if side.format == "hub":
        from datasets import load_dataset

        yield from load_dataset(side.path, side.subset, split=side.split)
        return
    if side.format not in FORMATS:
        raise ValueError(f"format {side.format!r}: must be one of {', '.join(FORMATS)}")
    yield from iter_local(side)


def by_subject(side: DictConfig, name: str) -> dict[str, list[str]]:
    """{subject: [question, ...]} in the source's row order."""
    out: dict[str, list[str]] = {}
    for i, row in enumerate(_rows(side)):
        if i == 0:
            missing = [c for c in (side.question_field, side.subject_field) if c not in row]
            if missing:
                raise ValueError(f"eval.translation.mmlu.{name}: columns {missing} are not in {side.path} "
                                 f"(its columns: {sorted(row)}); set {name}.question_field / subject_field")
        out.setdefault(str(row[side.subject_field]), []).append(str(row[side.question_field]))
    if not out:
        raise ValueError(f"eval.translation.mmlu.{name}: {side.path} has no rows")
    return out


def align(en: dict[str, list[str]], ar: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Items {id, subject, index, en, ar} for every English row, paired by subject and row index."""
    missing = sorted(set(en) - set(ar))
    if missing:
        raise ValueError(f"subjects {missing[:5]} of the English MMLU have no Arabic rows; "
                         "the two sources do not cover the same subjects")
    items = []
    for subject in sorted(en):
        if len(en[subject]) != len(ar[subject]):
            raise ValueError(f"subject {subject!r}: {len(en[subject])} English rows but {len(ar[subject])} "
                             "Arabic rows; rows can only be aligned by position when the counts match")
        items.extend({"id": f"{subject}/{i}", "subject": subject, "index": i, "en": q_en, "ar": q_ar}
                     for i, (q_en, q_ar) in enumerate(zip(en[subject], ar[subject])))
    return items


def load_aligned(cfg: DictConfig) -> list[dict[str, Any]]:
    """All aligned items of `eval.translation.mmlu` (14,042 for cais/mmlu x openai/MMMLU AR_XY)."""
    return align(by_subject(cfg.en, "en"), by_subject(cfg.ar, "ar"))
