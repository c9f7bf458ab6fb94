"""The report page: HTML with inline CSS and images as data URIs, readable offline and mailable.

Tables of results come from the same builders as the console's (`hala_exp.results_tables`) and the
ablation table's (`hala_exp.table`), rendered through `hala_exp.table_cells.to_html`.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

from hala_exp.allam.summary_lines import allam_summary
from hala_exp.console.headline import number
from hala_exp.console.live import duration
from hala_exp.report.graph import STATUS_STROKE, anchor, svg
from hala_exp.report.load import RunView, StepView
from hala_exp.results_tables import summary_tables
from hala_exp.table_cells import Grid, to_html

CSS = (Path(__file__).parent / "report.css").read_text(encoding="utf-8")
MAX_IMAGE_BYTES = 3_000_000  # larger figures are linked, not embedded
e = html.escape


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _link(path: Path | None, text: str) -> str:
    return f'<a href="{e(path.resolve().as_uri())}">{e(text)}</a>' if path else ""


def _badge(status: str) -> str:
    return f'<span class="badge {e(status.replace(" ", "-"))}">{e(status)}</span>'


def page(title: str, body: str) -> str:
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body>{body}<p class="meta">Written by hala-exp-report, {made}.</p></body></html>\n')


def _wandb_cell(s: StepView) -> str:
    w = s.wandb
    if not w:
        return ""
    if w.get("url"):
        return f'<a href="{e(w["url"])}">{e(w["run_id"])}</a>'
    if w.get("path"):
        return _link(Path(w["path"]), w["run_id"]) + ' <span class="meta">offline</span>'
    return f'<span class="mono">{e(str(w["run_id"]))}</span>'


def _took(s: StepView) -> str:
    if s.status == "reused":
        earlier = (s.record or {}).get("seconds")
        return f'<span class="meta">took {duration(float(earlier))}</span>' if earlier else ""
    return duration(float(s.seconds)) if s.seconds is not None else ""


def steps_table(view: RunView) -> str:
    """One row per step: status, time, key, headline metric, store folder, W&B run, log."""
    head = "".join(f"<th>{h}</th>" for h in ("step", "stage", "status", "time", "key", "headline",
                                             "output", "W&amp;B run", "log"))
    rows = []
    for s in view.steps:
        cls = ' class="failed"' if s.status == "failed" else ""
        rows.append(
            f'<tr id="{anchor(s.name)}"{cls}><th>{e(s.name)}</th><td>{e(s.stage)}</td><td>{_badge(s.status)}</td>'
            f'<td class="num">{_took(s)}</td><td class="mono">{e(s.key)}</td><td>{e(s.headline)}</td>'
            f'<td>{_link(s.dir, "store")}</td><td>{_wandb_cell(s)}</td><td>{_link(s.log, "log")}</td></tr>')
    return f'<table class="steps"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _failures(view: RunView, lines: int = 25) -> str:
    from hala_exp.json_files import tail_lines

    out = []
    for s in view.failed:
        tail = "\n".join(tail_lines(s.log, lines))
        out.append(f'<div class="failure"><h2>Step {e(s.name)} failed</h2><pre>{e(s.error)}</pre>'
                   + (f"<p>Last lines of {_link(s.log, str(s.log))}:</p><pre>{e(tail)}</pre>" if tail else "")
                   + "</div>")
    not_run = [s.name for s in view.steps if s.status == "not run"]
    if not_run:
        out.append(f'<p><b>Not run ({len(not_run)}):</b> {e(", ".join(not_run))}</p>')
    return "".join(out)


def _figures(view: RunView) -> str:
    """PNG files at the top of each step's output (fertility plots, ...), embedded."""
    figs = []
    for s in view.steps:
        for png in sorted(s.dir.glob("*.png")) if s.dir else []:
            if png.stat().st_size <= MAX_IMAGE_BYTES:
                figs.append(f'<figure><img class="plot" src="{data_uri(png.read_bytes())}" alt="{e(png.name)}">'
                            f"<figcaption>{e(s.name)}: {e(png.name)}</figcaption></figure>")
    return f'<h2>Figures</h2><div class="figures">{"".join(figs)}</div>' if figs else ""


def _metrics_table(view: RunView) -> str:
    g = Grid(["metric", "value"])
    for name in sorted(view.metrics):
        g.add([name, number(float(view.metrics[name]))])
    return to_html(g, "metrics")


def legend() -> str:
    items = [(s, STATUS_STROKE.get(s, "#868e96")) for s in ("ran", "reused", "failed", "not run")]
    return '<div class="legend">' + "".join(
        f'<span><svg width="12" height="12"><rect width="12" height="12" rx="3" fill="{c}"/></svg> {s}</span>'
        for s, c in items) + "</div>"


def compared(view: RunView) -> dict | None:
    """recipe=compare's checkpoints from the run's config.yaml (their Tables 1 and 2), else None."""
    if view.config.get("recipe") != "compare" or not view.config_text:
        return None
    import yaml

    return (yaml.safe_load(view.config_text) or {}).get("systems")


def run_body(view: RunView, heading: str = "h2") -> str:
    """Everything about one run below its title: graph, failures, steps, results, figures, metrics."""
    tables = summary_tables(view.metrics, model_id=view.config.get("model.id"), systems=compared(view))
    allam = allam_summary(view.metrics)
    parts = [f"<{heading}>Step graph</{heading}>", legend(), f'<div class="scroll">{svg(view.steps)}</div>',
             _failures(view), f"<{heading}>Steps</{heading}>", steps_table(view)]
    if tables or allam:
        parts.append(f"<{heading}>Results</{heading}>")
        parts += [to_html(g) for g in tables]
        if allam:
            parts.append(f"<pre>{e(allam)}</pre>")
    parts.append(_figures(view))
    if view.metrics:
        parts.append(f"<details><summary>All {len(view.metrics)} metrics (results.json)</summary>"
                     f"{_metrics_table(view)}</details>")
    if view.config_text:
        parts.append(f"<details><summary>Resolved config</summary><pre>{e(view.config_text)}</pre></details>")
    return "".join(parts)


def facts(view: RunView) -> str:
    """Counts by status, time, where things are, and what produced them."""
    counts = ", ".join(f"{view.count(st)} {st}" for st in ("ran", "reused", "failed", "not run") if view.count(st))
    took = sum(float(s.seconds or 0) for s in view.steps if s.status in ("ran", "failed"))
    git = view.run.get("git", {})
    items = [f"<b>{len(view.steps)} steps</b>: {e(counts)}", f"<b>compute</b> {duration(took)}",
             f"<b>run dir</b> {_link(view.dir, str(view.dir))}"]
    if view.run.get("store"):
        items.append(f"<b>store</b> {_link(Path(view.run['store']), view.run['store'])}")
    if git.get("commit"):
        dirty = " (dirty)" if git.get("dirty") else ""
        items.append(f"<b>git</b> <span class='mono'>{e(git['commit'][:10])}</span>{dirty}")
    if view.run.get("host"):
        items.append(f"<b>host</b> {e(view.run['host'].get('hostname', ''))}")
    if view.run.get("overrides") is not None:
        items.append(f"<b>overrides</b> <span class='mono'>{e(' '.join(view.run['overrides']) or '(none)')}</span>")
    return '<div class="facts">' + "".join(f"<span>{i}</span>" for i in items) + "</div>"


def run_page(view: RunView) -> str:
    status = "failed" if view.failed else ("complete" if all(s.status in ("ran", "reused") for s in view.steps)
                                          else "incomplete")
    head = f"<h1>{e(view.name)} {_badge(status)}</h1>{facts(view)}"
    return page(f"hala-exp report: {view.name}", head + run_body(view))
