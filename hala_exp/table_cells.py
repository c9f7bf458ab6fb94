"""A table's cells, built once and rendered as Markdown (the console, ablation.md) or HTML (the report).

The tables' builders (`hala_exp.results_tables`, `hala_exp.table.build`) decide what goes in each cell
and which cells stand out; these renderers only decide how that looks.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

NUMBER = re.compile(r"^-?\d[\d.,]*(e[-+]?\d+)?%?$")


@dataclass
class Cell:
    text: str
    strong: bool = False  # the best value of its column
    em: bool = False  # a label set apart (the paper's rows in an ablation table)


@dataclass
class Row:
    cells: list[Cell]
    paper: bool = False  # a reference row, not one of ours


@dataclass
class Grid:
    header: list[str]
    rows: list[Row] = field(default_factory=list)
    title: str = ""

    def add(self, texts: list[str], paper: bool = False) -> Row:
        row = Row([Cell(t) for t in texts], paper)
        self.rows.append(row)
        return row


def _md(c: Cell) -> str:
    if c.strong and c.text:
        return f"**{c.text}**"
    if c.em and c.text:
        return f"*{c.text}*"
    return c.text


def to_markdown(g: Grid) -> str:
    """`title` on its own line (when set), then a GitHub table."""
    lines = ["| " + " | ".join(g.header) + " |", "|" + "---|" * len(g.header)]
    lines += ["| " + " | ".join(_md(c) for c in r.cells) + " |" for r in g.rows]
    return (g.title + "\n" if g.title else "") + "\n".join(lines)


def _td(c: Cell, first: bool) -> str:
    text = html.escape(c.text)
    if c.strong and text:
        text = f"<strong>{text}</strong>"
    elif c.em and text:
        text = f"<em>{text}</em>"
    cls = "num" if not first and NUMBER.match(c.text) else ""
    tag = "th" if first else "td"
    return f'<{tag} class="{cls}">{text}</{tag}>' if cls else f"<{tag}>{text}</{tag}>"


def to_html(g: Grid, table_class: str = "grid") -> str:
    """A <table> with the title as its caption; the paper's rows carry class "paper", numbers "num"."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in g.header)
    body = "".join(("<tr class='paper'>" if r.paper else "<tr>")
                   + "".join(_td(c, i == 0) for i, c in enumerate(r.cells)) + "</tr>" for r in g.rows)
    caption = f"<caption>{html.escape(g.title)}</caption>" if g.title else ""
    return f'<table class="{table_class}">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
