"""A numeric range, as upstream libraries define a parameter's domain, and its wording in messages.

The tables that use it sit beside the code that passes the values on: mergekit's merge-method
parameters in `hala_exp/merging/domains.py`, vLLM's sampling and engine arguments in
`hala_exp/engines/domains.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # (low, ... rather than [low, ...
    high_open: bool = False
    integer: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.integer and value != int(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{kind} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{kind} {'above' if self.low_open else 'of at least'} {self.low:g}"
        if self.high is not None:
            return f"{kind} {'below' if self.high_open else 'of at most'} {self.high:g}"
        return f"a finite {kind.split()[-1]}"
