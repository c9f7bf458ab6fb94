"""The paper's reference rows for an ablation table (`hala_exp/evaluation/reference_results.yaml`)."""

from __future__ import annotations

from typing import Any

from hala_exp.evaluation.reference import reference


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
