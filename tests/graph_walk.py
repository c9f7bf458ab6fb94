"""Walking a step graph in tests: which steps a change can reach."""

from __future__ import annotations

from hala_exp.recipes.graph import Ref, Step


def descendants(steps: list[Step], roots: str | set[str]) -> set[str]:
    """The roots and every step that reads, directly or not, from one of them."""
    out, grew = ({roots} if isinstance(roots, str) else set(roots)), True
    while grew:
        grew = False
        for s in steps:
            if s.name not in out and any(isinstance(v, Ref) and v.step in out for v in s.inputs.values()):
                out.add(s.name)
                grew = True
    return out
