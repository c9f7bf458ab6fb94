"""Swept values x metrics: which metrics become columns, the best per column, Markdown and CSV."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

from hala_exp.search.objectives import parse_objective, step_of
from hala_exp.table.points import Point
from hala_exp.table_cells import Grid, to_markdown

DIGITS = 2  # decimals shown in the tables
# Per lighteval task, the first of these it reports becomes the task's column.
PREFERRED = ("acc_norm", "acc", "em", "f1")
TRANSLATION = {"bleu": "BLEU", "chrf": "chrF++", "rougeL": "ROUGE-L"}


@dataclass
class Column:
    name: str  # shown in the header
    metric: str | None  # flat results.json name; None for the average
    step: str  # the step whose W&B run produced it
    kind: str  # task | average | translation
    scale: float = 1.0
    ref_key: str | None = None  # the key of this column in the paper's rows
    lower_better: bool = False  # losses, perplexities, spike counts


@dataclass
class Table:
    axes: list[str]
    columns: list[Column]
    rows: list[dict[str, Any]]  # {"values": {axis: v}, "cells": {col: float|None}, "source", "run_ids"}
    references: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, str] = field(default_factory=dict)  # row source -> front / trial / grid (a search)

    def best(self) -> dict[str, float]:
        """Best per column (max, or min for a lower-is-better one) at the precision shown; none where
        all rows show the same value, so no cell is marked over a difference nobody can see."""
        out = {}
        for c in self.columns:
            vals = [round(r["cells"][c.name], DIGITS) for r in self.rows if r["cells"][c.name] is not None]
            if len(set(vals)) > 1:
                out[c.name] = min(vals) if c.lower_better else max(vals)
        return out

    def varies(self, c: Column) -> bool:
        return len({r["cells"][c.name] for r in self.rows}) > 1


def _task_columns(points: list[Point], system: str) -> list[Column]:
    prefix = f"evaluate.{system}."
    by_task: dict[str, set[str]] = {}
    for p in points:
        for name in p.metrics:
            rest = name.removeprefix(prefix)
            if name.startswith(prefix) and rest.count(".") == 1 and not rest.startswith("translation."):
                task, metric = rest.split(".")
                by_task.setdefault(task, set()).add(metric)
    cols = []
    for task in sorted(by_task):
        if "average" in by_task[task]:
            continue  # a suite's roll-up (`<suite>.<task>`, `<suite>.average`), already 0-100
        metric = next((m for m in PREFERRED if m in by_task[task]), min(by_task[task]))
        cols.append(Column(f"{task} {metric} (%)", f"{prefix}{task}.{metric}", f"evaluate.{system}", "task",
                           100.0))
    return cols


def metric_columns(points: list[Point], specs: list[str]) -> list[Column]:
    """Extra columns named on the command line: `<step>.<metric>`, with `:min` when lower is better
    (e.g. `cpt.heldout.arabic.loss:min`). A name no run reports is an error naming what there is."""
    cols = []
    known = sorted({m for p in points for m in p.metrics})
    for spec in specs:
        name, _, direction = spec.partition(":")
        try:
            parse_objective(spec)
        except ValueError as e:
            raise SystemExit(f"hala-exp-table: --metric {spec!r}: {e}") from None
        if not any(name in p.metrics for p in points):
            near = [m for m in known if m.split(".")[0] == name.split(".")[0]][:12] or known[:12]
            raise SystemExit(f"hala-exp-table: --metric {name!r}: no run reports it. Fix: one of "
                             f"{', '.join(near)}{' ...' if len(known) > 12 else ''}")
        cols.append(Column(name + (" (lower is better)" if direction == "min" else ""), name,
                           step_of(name), "metric", 1.0, None, direction == "min"))
    return cols


def choose_columns(points: list[Point], system: str, translation_system: str | None) -> list[Column]:
    cols = _task_columns(points, system)
    if cols:
        cols.append(Column("average (%)", None, f"evaluate.{system}", "average", 1.0, "average"))
    if translation_system:
        for key, label in TRANSLATION.items():
            metric = f"evaluate.{translation_system}.translation.{key}"
            if any(metric in p.metrics for p in points):
                cols.append(Column(f"{translation_system} {label}", metric, f"evaluate.{translation_system}",
                                   "translation", 1.0, key))
    return cols


def _axes(points: list[Point]) -> list[str]:
    """The swept keys; after a swept config group (`merge=slerp,slerp_split`) the keys inside it whose
    resolved values differ between the points (`merge.t`), so a preset's name is not all a row shows."""
    keys = sorted({k for p in points for k in p.overrides})
    varying = [k for k in keys if len({repr(p.overrides.get(k)) for p in points}) > 1]
    out = []
    for axis in varying or keys:
        out.append(axis)
        inner = sorted({k for p in points for k in p.config if k.startswith(axis + ".")} - set(keys))
        out += [k for k in inner if len({repr(p.config.get(k)) for p in points}) > 1]
    # an item of a list axis (a search's `merge.t.0.value` beside a grid's `merge.t`) shows in it, resolved
    return [a for a in out if not any(a.startswith(b + ".") and a[len(b) + 1:].split(".")[0].isdigit()
                                      for b in out)]


def _value(p: Point, axis: str) -> Any:
    """As the command line wrote it; a list (a per-layer `merge.t=[{filter:mlp,...}]`) as resolved, since
    Hydra's override grammar is not YAML."""
    if axis in p.overrides and not isinstance(p.config.get(axis), list):
        return p.overrides[axis]
    return p.config.get(axis)


def _sort_key(values: dict[str, Any], axes: list[str]) -> tuple:
    return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in (values[a] for a in axes))


def build_table(points: list[Point], system: str, translation_system: str | None,
                references: list[dict[str, Any]] | None = None, metrics: list[str] | None = None) -> Table:
    axes = _axes(points)
    columns = choose_columns(points, system, translation_system) + metric_columns(points, metrics or [])
    if not columns:
        raise SystemExit(f"hala-exp-table: no metrics of evaluate.{system} or evaluate.{translation_system} "
                         "in these runs. Fix: pick --system / --translation-system among the evaluated "
                         "systems (student_base, student_sft, student_merged, translator, teacher, ...)")
    rows = []
    for p in points:
        cells: dict[str, float | None] = {}
        tasks = []
        for c in columns:
            if c.kind == "average":  # unweighted mean of the task columns, as the paper's average
                cells[c.name] = sum(tasks) / len(tasks) if tasks else None
                continue
            v = p.metrics.get(c.metric)
            cells[c.name] = None if v is None or not math.isfinite(v) else v * c.scale
            if c.kind == "task" and cells[c.name] is not None:
                tasks.append(cells[c.name])
        steps = sorted({c.step for c in columns})
        rows.append({"values": {a: _value(p, a) for a in axes}, "cells": cells, "source": p.source,
                     "run_ids": {s: p.run_ids.get(s) for s in steps}})
    rows.sort(key=lambda r: _sort_key(r["values"], axes))
    return Table(axes, columns, rows, references or [])


def axis_value(v: Any) -> str:
    """A swept value exactly as given (None is `null`: e.g. no source left out); a list as mergekit's
    per-layer settings read, e.g. `self_attn: 0→0.5→1; mlp: 1→0.5→0; 0.5`."""
    if v is None:
        return "null"
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        return "; ".join(f"{x['filter']}: {axis_value(x.get('value'))}" if x.get("filter", "*") != "*"
                         else axis_value(x.get("value")) for x in v)
    if isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return "→".join(f"{x:g}" for x in v)
    if isinstance(v, float):
        return str(round(v, 4))  # a searched value (0.7151893663724195) as 0.7152; 0.25 and 1.0 as given
    return str(v)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{DIGITS}f}"
    return str(v)


def grid(t: Table) -> Grid:
    """Best value per column in bold; paper rows below ours, labels in italics; the last column
    traces each row to its run directory and W&B runs."""
    best = t.best()
    search = ["search"] if t.marks else []
    g = Grid([*t.axes, *(c.name for c in t.columns), *search, "run (W&B run ids)"])
    for r in t.rows:
        ids = ", ".join(f"{s}: {i}" for s, i in r["run_ids"].items() if i)
        row = g.add([*(axis_value(r["values"][a]) for a in t.axes), *(_fmt(r["cells"][c.name]) for c in t.columns),
                     *([t.marks.get(r["source"], "")] if search else []),
                     f"{r['source']} ({ids})" if ids else r["source"]])
        if search:
            row.cells[len(t.axes) + len(t.columns)].strong = t.marks.get(r["source"]) == "front"
        for cell, c in zip(row.cells[len(t.axes):len(t.axes) + len(t.columns)], t.columns):
            v = r["cells"][c.name]
            cell.strong = v is not None and round(v, DIGITS) == best.get(c.name)
    for ref in t.references:
        row = g.add([ref["label"], *([""] * (len(t.axes) - 1)),
                     *(_fmt(ref.get(c.ref_key)) if c.ref_key else "" for c in t.columns), *([""] * len(search)),
                     "paper"], paper=True)
        row.cells[0].em = True
    return g


def markdown(t: Table) -> str:
    return to_markdown(grid(t))


def to_csv(t: Table) -> str:
    buf = io.StringIO()
    steps = sorted({c.step for c in t.columns})
    w = csv.writer(buf)
    search = ["search"] if t.marks else []
    w.writerow(["row", *t.axes, *(c.name for c in t.columns), *search, "run_dir",
                *(f"wandb_run_id.{s}" for s in steps)])
    for r in t.rows:
        w.writerow(["ours", *(axis_value(r["values"][a]) for a in t.axes),
                    *(_fmt(r["cells"][c.name]) for c in t.columns),
                    *([t.marks.get(r["source"], "")] if search else []), r["source"],
                    *(r["run_ids"].get(s) or "" for s in steps)])
    for ref in t.references:
        w.writerow([ref["label"], *([""] * len(t.axes)),
                    *(_fmt(ref.get(c.ref_key)) if c.ref_key else "" for c in t.columns), *([""] * len(search)), "paper",
                    *([""] * len(steps))])
    return buf.getvalue()
