"""The paper's Tables 1 and 2 for checkpoints evaluated as they are (`recipe=compare`): per system,
the paper's number for that checkpoint, the number measured here and the difference.

Measured numbers come from a run's metrics (`evaluate.<label>.oall.average`,
`evaluate.<label>.translation.{bleu,rougeL,chrf}`); the paper's from
`hala_exp/evaluation/reference_results.yaml`, found by the system's hub id. A system the paper did
not evaluate (any other checkpoint) gets an empty paper cell, and so no difference.
"""

from __future__ import annotations

from typing import Any

from hala_exp.evaluation.reference import reference, released_row
from hala_exp.recipes.compare import checkpoint
from hala_exp.table_cells import Grid

TABLE2 = (("BLEU", "bleu"), ("ROUGE-L", "rougeL"), ("chrF++", "chrf"))


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _diff(measured: float | None, paper: float | None) -> float | None:
    return None if measured is None or paper is None else measured - paper


def table1_comparison(metrics: dict[str, float], models: list[dict[str, Any]]) -> Grid:
    """One row per model: label, checkpoint, the paper's Table 1 average, ours, ours - paper."""
    t1 = reference()["table1"]
    g = Grid(["system", "checkpoint", "paper", "measured", "difference"],
             title=f"Table 1: {t1['caption']}, 0-100 (paper: {t1['source']}; measured: this run)")
    for m in models:
        row = released_row("table1", m["id"])
        paper = float(row["average"]) if row else None
        measured = metrics.get(f"evaluate.{m['label']}.{t1['suite']}.average")
        g.add([m["label"], checkpoint(m), _num(paper), _num(measured), _num(_diff(measured, paper), signed=True)])
    return g


def table2_comparison(metrics: dict[str, float], translators: list[dict[str, Any]]) -> Grid:
    """One row per translator: for each of BLEU / ROUGE-L / chrF++ the paper's, ours and the difference."""
    t2 = reference()["table2"]
    header = ["system", "checkpoint"] + [f"{name} {part}" for name, _ in TABLE2
                                         for part in ("paper", "measured", "difference")]
    g = Grid(header, title=f"Table 2: {t2['caption']} (paper: {t2['source']}; measured: this run)")
    for t in translators:
        row = released_row("table2", t["id"])
        cells = [t["label"], checkpoint(t)]
        for _, key in TABLE2:
            paper = float(row[key]) if row else None
            measured = metrics.get(f"evaluate.{t['label']}.translation.{key}")
            cells += [_num(paper), _num(measured), _num(_diff(measured, paper), signed=True)]
        g.add(cells)
    return g


def comparison_tables(metrics: dict[str, float], systems: dict[str, Any]) -> list[Grid]:
    """Table 1 for `systems["models"]` and Table 2 for `systems["translators"]`, those that are listed."""
    tables = []
    if systems.get("models"):
        tables.append(table1_comparison(metrics, systems["models"]))
    if systems.get("translators"):
        tables.append(table2_comparison(metrics, systems["translators"]))
    return tables
