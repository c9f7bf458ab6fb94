"""Pareto dominance over objective values: which points no other point beats on every objective."""

from __future__ import annotations

from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float], minimize: Sequence[bool]) -> bool:
    """a is at least as good as b on every objective and better on one."""
    better = False
    for x, y, low in zip(a, b, minimize, strict=True):
        if (x > y) if low else (x < y):
            return False
        better = better or x != y
    return better


def on_front(values: Sequence[Sequence[float]], minimize: Sequence[bool],
             others: Sequence[Sequence[float]] = ()) -> list[bool]:
    """For each point, whether no point of `values` (or of `others`) dominates it."""
    pool = [*values, *others]
    return [not any(dominates(o, v, minimize) for o in pool) for v in values]
