"""The paper's Table 1 and Table 2 numbers (`reference_results.yaml`) and which of them match a run:
the one reader of that file, for the CLI's tables, ablation tables and the compare tables."""

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


def reference_rows(configs: list[dict[str, Any]], translation_system: str | None) -> list[dict[str, Any]]:
    """Paper rows for runs of the paper's recipe: Table 1 rows of each student (`model.id`) the runs
    use, and, when any does, the Table 2 row of the table's translation system.

    Returns [{"label": ..., "average": ...} | {"label": ..., "bleu": ..., "chrf": ..., "rougeL": ...}].
    """
    ref = reference()
    model_ids = {c.get("model.id") for c in configs}
    out = [{"label": f"{r['label']} (paper)", "average": r["average"]}
           for r in ref["table1"]["rows"] if r["model_id"] in model_ids]
    if out and translation_system:
        out += [{"label": f"{r['label']} (paper)", **{k: r[k] for k in ("bleu", "chrf", "rougeL")}}
                for r in ref["table2"]["rows"] if r["system"] == translation_system]
    return out
