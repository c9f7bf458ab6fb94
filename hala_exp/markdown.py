"""The one Markdown table writer: the run summary, the ablation table and the fertility report use it."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table of cells already formatted as text (no trailing newline)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)
