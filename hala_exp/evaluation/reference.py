"""The paper's Table 1 and Table 2 numbers (`reference_results.yaml`) and which of them match a run."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

REFERENCE_FILE = Path(__file__).with_name("reference_results.yaml")


@cache
def reference() -> dict[str, Any]:
    """The whole reference file (source, table1, table2)."""
    return yaml.safe_load(REFERENCE_FILE.read_text(encoding="utf-8"))


def table1_rows(model_id: str | None = None) -> list[dict[str, Any]]:
    """Table 1 rows for the student `model_id` (base and HALA model); every row when none matches."""
    rows = reference()["table1"]["rows"]
    matched = [r for r in rows if model_id is not None and r["model_id"] == model_id]
    return matched or list(rows)


def table2_rows() -> list[dict[str, Any]]:
    """Table 2 rows, one per evaluated translation system (teacher, teacher_fp8, translator_base, translator)."""
    return list(reference()["table2"]["rows"])


def paper_value(model_id: str | None, system: str) -> float | None:
    """The paper's Table 1 average for this run's `system`, when the run uses one of its models."""
    for row in reference()["table1"]["rows"]:
        if row["model_id"] == model_id and row["system"] == system:
            return float(row["average"])
    return None


def released_row(table: str, hub_id: str) -> dict[str, Any] | None:
    """The row of `table` (table1 | table2) for the released checkpoint `hub_id`, or None: how a
    checkpoint evaluated as it is (`recipe=compare`) finds the paper's number for it."""
    return next((r for r in reference()[table]["rows"] if r.get("hub_id") == hub_id), None)
