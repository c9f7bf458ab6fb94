"""A sweep's page: the ablation table and plot of `hala-exp-table` (for a search, with its front marked
and the front plot), then every point's own report."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from hala_exp.evaluation.reference import reference_rows
from hala_exp.report.load import RunView
from hala_exp.report.page import data_uri, facts, page, run_body
from hala_exp.table.build import build_table, grid
from hala_exp.table.front import find_search, marks, plot_front
from hala_exp.table.plot import plot, plot_curve
from hala_exp.table.points import load_run as load_point
from hala_exp.table_cells import to_html

e = html.escape


def ablation(points_dirs: list[Path], system: str, translation_system: str | None, metrics: list[str],
             curves: list[str] = ()) -> tuple[str, list[str]]:
    """(the table as HTML, its plots as data URIs: score against the swept value, then each curve),
    or a note saying why there is no table."""
    points = [load_point(d) for d in points_dirs if (d / "results.json").is_file()]
    if not points:
        return "<p class='meta'>No point has results yet.</p>", []
    refs = reference_rows([p.config for p in points], translation_system)
    search = find_search([points_dirs[0].parent])
    metrics = list(metrics)
    if search:  # its objectives are columns, as in hala-exp-table
        given = {m.partition(":")[0] for m in metrics}
        metrics += [o.spec() for o in search.objectives if o.metric not in given]
    try:
        table = build_table(points, system, translation_system, refs, metrics)
    except SystemExit as err:  # no such columns: say so on the page instead of failing it
        return f"<p class='meta'>{e(str(err))}</p>", []
    notes: list[str] = []
    if search:
        table.marks, notes = marks(points, search)
    name = points_dirs[0].parent.name
    with tempfile.TemporaryDirectory() as tmp:
        pngs = [plot(table, Path(tmp) / "ablation.png", f"{name}: evaluate.{system}")]
        if search:
            pngs.insert(0, plot_front(points, search, table.marks, Path(tmp) / "front.png", name))
        for i, curve in enumerate(curves):
            try:
                pngs.append(plot_curve(points, curve, Path(tmp) / f"curve{i}.png", f"{name}: {curve}"))
            except ValueError as err:  # no run logged it along training
                raise SystemExit(f"hala-exp-report: --curve {curve}: {err}") from err
        uris = [data_uri(p.read_bytes()) for p in pngs]
    return to_html(grid(table), "grid ablation") + "".join(f"<p>{e(n)}</p>" for n in notes), uris


def sweep_page(sweep_dir: Path, views: list[RunView], table_html: str, plots: list[str]) -> str:
    failed = [v.dir.name for v in views if v.failed]
    head = (f"<h1>{e(sweep_dir.name)}</h1><div class='facts'><span><b>{len(views)} points</b></span>"
            f"<span><b>sweep dir</b> <a href='{e(sweep_dir.resolve().as_uri())}'>{e(str(sweep_dir))}</a></span>"
            + (f"<span><b>failed</b> {e(', '.join(failed))}</span>" if failed else "") + "</div>")
    body = [head, "<h2>Sweep table</h2>", table_html]
    body += [f"<img class='plot' src='{uri}' alt='sweep plot'>" for uri in plots]
    body.append("<h2>Points</h2>")
    for v in views:
        label = " ".join(v.run.get("overrides", [])) or v.dir.name
        body.append(f"<section class='point' id='point-{e(v.dir.name)}'><h3>point {e(v.dir.name)}: "
                    f"<span class='mono'>{e(label)}</span></h3>{facts(v)}<details{' open' if v.failed else ''}>"
                    f"<summary>steps and results</summary>{run_body(v, 'h4')}</details></section>")
    return page(f"hala-exp report: {sweep_dir.name}", "".join(body))
