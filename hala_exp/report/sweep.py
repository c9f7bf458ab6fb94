"""A sweep's page: the ablation table and plot of `hala-exp-table`, then every point's own report."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from hala_exp.grid import to_html
from hala_exp.report.load import RunView
from hala_exp.report.page import data_uri, facts, page, run_body
from hala_exp.table.build import build_table, grid
from hala_exp.table.plot import plot
from hala_exp.table.points import load_run as load_point
from hala_exp.table.reference import reference_rows

e = html.escape


def ablation(points_dirs: list[Path], system: str, translation_system: str | None,
             metrics: list[str]) -> tuple[str, str]:
    """(the table as HTML, the plot as a data URI), or a note saying why there is no table."""
    points = [load_point(d) for d in points_dirs if (d / "results.json").is_file()]
    if not points:
        return "<p class='meta'>No point has results yet.</p>", ""
    refs = reference_rows([p.config for p in points], translation_system)
    try:
        table = build_table(points, system, translation_system, refs, metrics)
    except SystemExit as err:  # no such columns: say so on the page instead of failing it
        return f"<p class='meta'>{e(str(err))}</p>", ""
    with tempfile.TemporaryDirectory() as tmp:
        png = plot(table, Path(tmp) / "ablation.png", f"{points_dirs[0].parent.name}: evaluate.{system}")
        uri = data_uri(png.read_bytes())
    return to_html(grid(table), "grid ablation"), uri


def sweep_page(sweep_dir: Path, views: list[RunView], table_html: str, plot_uri: str) -> str:
    failed = [v.dir.name for v in views if v.failed]
    head = (f"<h1>{e(sweep_dir.name)}</h1><div class='facts'><span><b>{len(views)} points</b></span>"
            f"<span><b>sweep dir</b> <a href='{e(sweep_dir.resolve().as_uri())}'>{e(str(sweep_dir))}</a></span>"
            + (f"<span><b>failed</b> {e(', '.join(failed))}</span>" if failed else "") + "</div>")
    body = [head, "<h2>Sweep table</h2>", table_html]
    if plot_uri:
        body.append(f"<img class='plot' src='{plot_uri}' alt='score against the swept value'>")
    body.append("<h2>Points</h2>")
    for v in views:
        label = " ".join(v.run.get("overrides", [])) or v.dir.name
        body.append(f"<section class='point' id='point-{e(v.dir.name)}'><h3>point {e(v.dir.name)}: "
                    f"<span class='mono'>{e(label)}</span></h3>{facts(v)}<details{' open' if v.failed else ''}>"
                    f"<summary>steps and results</summary>{run_body(v, 'h4')}</details></section>")
    return page(f"hala-exp report: {sweep_dir.name}", "".join(body))
