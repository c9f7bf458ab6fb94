"""`hala-exp-table`: an ablation table (swept values x metrics) and a plot from a sweep's runs.

    hala-exp-table outputs/multirun/<sweep>               # local run records
    hala-exp-table --wandb-path ENTITY/PROJECT --wandb-group tiny-slerp_t   # the W&B API (online)
    hala-exp-table outputs/multirun/<lang_ratio sweep> --system allam_cpt --translation-system none \
        --metric cpt.heldout.arabic.loss:min --metric cpt.heldout.english.loss:min
    hala-exp-table outputs/search/<search> outputs/multirun/<grid sweep>   # a search's front beside a grid

Writes ablation.md, ablation.csv and ablation.png (into <sweep>/table/ or --out), prints the Markdown,
and logs a W&B Table with the plot when the sweep was tracked with W&B (`--wandb off` to skip). For a
search (`+search=...`: a search.json in the directory) its objectives are columns, each trial is
marked `front` or `trial` (other points `grid`), and front.png plots the first objective against the
second with the front highlighted.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from hala_exp.evaluation.reference import reference_rows
from hala_exp.table.build import Table, axis_value, build_table, markdown, to_csv
from hala_exp.table.front import find_search, marks, plot_front
from hala_exp.table.plot import plot, plot_curve
from hala_exp.table.points import Point, load_points, wandb_points
from hala_exp.tracking.secrets import scrub


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="hala-exp-table", description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", type=Path, help="sweep directories (outputs/multirun/...) or run dirs")
    ap.add_argument("--system", default="student_merged",
                    help="the evaluated system whose benchmark scores are columns (default: student_merged)")
    ap.add_argument("--translation-system", default="translator",
                    help="the system whose BLEU / chrF++ / ROUGE-L are columns; 'none' for none")
    ap.add_argument("--metric", action="append", default=[], metavar="STEP.METRIC[:min]",
                    help="an extra column from results.json (repeatable); ':min' when lower is better, "
                         "e.g. cpt.heldout.arabic.loss:min")
    ap.add_argument("--curve", action="append", default=[], metavar="STEP.METRIC",
                    help="also plot a metric logged along training (STEP.METRIC_step<N>) against the step, "
                         "one line per point, e.g. cpt.heldout.arabic.loss (repeatable)")
    ap.add_argument("--out", type=Path, help="folder for ablation.md/.csv/.png (default: <first path>/table)")
    ap.add_argument("--wandb", choices=("auto", "on", "off"), default="auto",
                    help="log a W&B Table: auto = when the runs were tracked with W&B")
    ap.add_argument("--wandb-path", help="ENTITY/PROJECT to read runs from with the W&B API (online)")
    ap.add_argument("--wandb-group", help="the W&B group (experiment or sweep) to read with --wandb-path")
    a = ap.parse_args(argv)
    if bool(a.paths) == bool(a.wandb_path):
        ap.error("give either run/sweep directories or --wandb-path with --wandb-group")
    if a.wandb_path and not a.wandb_group:
        ap.error("--wandb-path needs --wandb-group (e.g. tiny-slerp_t)")
    return a


def _group(point: Point) -> str:
    """The W&B group the point's own steps were logged in: `logger.group` as configured, else as its
    steps recorded it (a shared upstream may have been logged by another sweep), else the experiment."""
    return point.config.get("logger.group") or point.group or point.config.get("name", "")


def log_wandb(t: Table, png: Path, point: Point, sources: list[str], front_png: Path | None = None) -> str:
    """One W&B run (job_type "table") in the sweep's group holding the table and the plot."""
    import wandb

    c = point.config
    group = _group(point)
    run_id = "table-" + hashlib.sha256("\n".join(sorted(sources)).encode()).hexdigest()[:10]
    wandb_dir = c.get("logger.dir") or None
    run = wandb.init(project=c.get("logger.project", "hala-exp"), entity=c.get("logger.entity"), group=group,
                     job_type="table", name=f"{group} ablation table", id=run_id, resume="allow",
                     mode=c.get("logger.mode", "offline"), dir=wandb_dir,
                     config=scrub({"table.axes": t.axes, "table.sources": sources}),
                     settings=wandb.Settings(console="off", disable_git=True, save_code=False, silent=True,
                                             x_disable_stats=True))
    columns = [*t.axes, *(col.name for col in t.columns), "run_dir", "wandb_run_ids"]
    data: list[list[Any]] = [[*(axis_value(r["values"][a]) for a in t.axes),
                              *(r["cells"][col.name] for col in t.columns), r["source"],
                              " ".join(i for i in r["run_ids"].values() if i)] for r in t.rows]
    for ref in t.references:
        data.append([ref["label"], *([None] * (len(t.axes) - 1)),
                     *(ref.get(col.ref_key) if col.ref_key else None for col in t.columns), "paper", ""])
    if t.marks:
        columns.insert(-2, "search")
        for row, r in zip(data, t.rows):
            row.insert(-2, t.marks.get(r["source"], ""))
        for row in data[len(t.rows):]:
            row.insert(-2, "")
    front = {"front_plot": wandb.Image(str(front_png))} if front_png else {}
    run.log({"ablation": wandb.Table(columns=columns, data=data), "ablation_plot": wandb.Image(str(png)),
             **front, **metric_plots(t)})
    run.finish()
    return run_id


def metric_plots(t: Table) -> dict[str, Any]:
    """One W&B chart per column against the swept value: a line over a numeric axis (one line per
    value of the other axes), bars when no axis is numeric. Our rows only, no paper rows."""
    import wandb

    numeric = [a for a in t.axes if all(isinstance(r["values"][a], (int, float)) for r in t.rows)]
    x = numeric[0] if numeric else "point"
    others = [a for a in t.axes if a != x]
    columns = [x, "series", *(c.name for c in t.columns)]
    data = [[r["values"][x] if numeric else " / ".join(axis_value(r["values"][a]) for a in t.axes),
             " / ".join(f"{a}={axis_value(r['values'][a])}" for a in others) or "ours",
             *(r["cells"][c.name] for c in t.columns)] for r in t.rows]
    points = wandb.Table(columns=columns, data=data)
    plots: dict[str, Any] = {"ablation_points": points}
    for c in t.columns:
        title = f"{c.name} vs {x}"
        plots[f"plot/{c.name}"] = (wandb.plot.line(points, x, c.name, stroke="series" if others else None,
                                                   title=title) if numeric else
                                   wandb.plot.bar(points, x, c.name, title=title))
    return plots


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if a.wandb_path:
        points = wandb_points(a.wandb_path, a.wandb_group)
        out = a.out or Path("outputs") / "tables" / a.wandb_group
    else:
        points = load_points(a.paths)
        out = a.out or a.paths[0] / "table"
    if not points:
        print("hala-exp-table: no runs found", file=sys.stderr)
        return 1
    tsys = None if a.translation_system == "none" else a.translation_system
    refs = reference_rows([p.config for p in points], tsys)
    search = None if a.wandb_path else find_search(a.paths)
    metrics = list(a.metric)
    if search:  # the objectives are columns, unless given already
        given = {m.partition(":")[0] for m in metrics}
        metrics += [o.spec() for o in search.objectives if o.metric not in given]
    table = build_table(points, a.system, tsys, refs, metrics)
    notes: list[str] = []
    lead = points[0]  # whose group the table run joins; for a search, its first trial
    if search:
        table.marks, notes = marks(points, search)
        lead = next((p for p in points if table.marks.get(p.source) in ("front", "trial")), lead)
    out.mkdir(parents=True, exist_ok=True)
    md = "\n\n".join([markdown(table), *notes])
    (out / "ablation.md").write_text(md + "\n", encoding="utf-8")
    (out / "ablation.csv").write_text(to_csv(table), encoding="utf-8")
    title = f"{_group(lead)}: evaluate.{a.system}"
    png = plot(table, out / "ablation.png", title)
    front_png = plot_front(points, search, table.marks, out / "front.png", _group(lead)) if search else None
    curves = []
    for name in a.curve:
        try:
            curves.append(plot_curve(points, name, out / f"curve-{name}.png", _group(lead)))
        except ValueError as e:
            print(f"hala-exp-table: --curve {name}: {e}", file=sys.stderr)
            return 2
    print(md)
    written = [out / "ablation.md", out / "ablation.csv", png, *([front_png] if front_png else []), *curves]
    print(f"\nWrote {', '.join(map(str, written))}")
    tracked = lead.config.get("logger.backend") == "wandb"
    if a.wandb == "on" or (a.wandb == "auto" and tracked and not a.wandb_path):
        run_id = log_wandb(table, png, lead, [p.source for p in points], front_png)
        print(f"W&B table run: {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
