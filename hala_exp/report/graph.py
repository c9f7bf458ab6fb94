"""The step graph as inline SVG: layered top to bottom by longest path from the inputs.

Each step sits one row below its deepest input; within a row steps are ordered by the mean
position of their inputs (two sweeps), which keeps most edges short and uncrossed for graphs of
this size. No Graphviz: the layout is a few lines and the page stays self-contained.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Protocol

from hala_exp.console.live import duration

W, H = 196, 50  # node size
GAP_X, GAP_Y, PAD = 14, 44, 12
STATUS_FILL = {"ran": "#d6f5dd", "reused": "#dbe9fb", "failed": "#fbd5d5", "interrupted": "#fde8c8",
               "running": "#fde8c8", "queued": "#eeeeee", "submitted": "#eeeeee"}
STATUS_STROKE = {"ran": "#2f9e44", "reused": "#1c7ed6", "failed": "#e03131", "interrupted": "#f08c00",
                 "running": "#f08c00"}


class Node(Protocol):
    name: str
    key: str
    needs: list[str]
    status: str
    seconds: float | None
    headline: str


def anchor(name: str) -> str:
    """The id of a step's row in the page (names hold dots)."""
    return "step-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def depths(steps: Sequence[Node]) -> dict[str, int]:
    """Longest path from an input-free step to each step (steps may come in any order)."""
    needs = {s.name: [n for n in s.needs if n != s.name] for s in steps}
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name not in depth:
            ups = [n for n in needs.get(name, []) if n in needs and n not in seen]  # a cycle is cut
            depth[name] = 1 + max((visit(n, seen | {name}) for n in ups), default=-1)
        return depth[name]

    for s in steps:
        visit(s.name, frozenset())
    return depth


def layers(steps: Sequence[Node]) -> list[list[str]]:
    """Rows of step names, top first: a step's row is one more than its deepest input's."""
    names = {s.name for s in steps}
    depth = depths(steps)
    cols: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for s in steps:
        cols[depth[s.name]].append(s.name)
    needs = {s.name: [n for n in s.needs if n in names] for s in steps}
    def centred(col: list[str]) -> dict[str, float]:  # rows are drawn centred: compare offsets
        return {n: i - (len(col) - 1) / 2 for i, n in enumerate(col)}

    pos = {n: p for col in cols for n, p in centred(col).items()}
    for _ in range(2):  # order each row by the mean position of its inputs, top to bottom
        for col in cols[1:]:
            col.sort(key=lambda n: sum(pos[m] for m in needs[n]) / len(needs[n]))
            pos.update(centred(col))
    return cols


def _label(s: Node) -> str:
    took = "" if s.seconds is None or s.status == "reused" else f" · {duration(float(s.seconds))}"
    return f"{s.status}{took} · {s.key[:8]}"


def svg(steps: Sequence[Node]) -> str:
    rows = layers(steps)
    by_name = {s.name: s for s in steps}
    widest = max((len(r) for r in rows), default=0)
    width = PAD * 2 + widest * W + max(widest - 1, 0) * GAP_X
    height = PAD * 2 + len(rows) * H + max(len(rows) - 1, 0) * GAP_Y
    xy: dict[str, tuple[float, float]] = {}
    for ri, row in enumerate(rows):
        left = PAD + (width - 2 * PAD - (len(row) * W + (len(row) - 1) * GAP_X)) / 2  # centred row
        for ci, name in enumerate(row):
            xy[name] = (left + ci * (W + GAP_X), PAD + ri * (H + GAP_Y))
    edges = []
    for s in steps:
        for n in s.needs:
            if n in xy:
                (x1, y1), (x2, y2) = xy[n], xy[s.name]
                a, b = (x1 + W / 2, y1 + H), (x2 + W / 2, y2)
                mid = (a[1] + b[1]) / 2
                edges.append(f'<path class="edge" d="M{a[0]:.0f},{a[1]:.0f} C{a[0]:.0f},{mid:.0f} '
                             f'{b[0]:.0f},{mid:.0f} {b[0]:.0f},{b[1]:.0f}"/>')
    nodes = []
    for name, (x, y) in xy.items():
        s = by_name[name]
        fill, stroke = STATUS_FILL.get(s.status, "#f1f3f5"), STATUS_STROKE.get(s.status, "#868e96")
        short = name if len(name) <= 25 else name[:24] + "…"
        tip = html.escape(f"{name} ({s.status}) {s.headline}".strip())
        nodes.append(
            f'<a href="#{anchor(name)}"><g class="node status-{html.escape(s.status.replace(" ", "-"))}" '
            f'data-step="{html.escape(name)}"><title>{tip}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{W}" height="{H}" rx="7" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 10:.0f}" y="{y + 21:.0f}" class="name">{html.escape(short)}</text>'
            f'<text x="{x + 10:.0f}" y="{y + 40:.0f}" class="meta">{html.escape(_label(s))}</text></g></a>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="step graph">'
            + "".join(edges) + "".join(nodes) + "</svg>")
