"""Fine-tuning through TRL: SFT, continued pre-training, DPO, and their multi-GPU launch."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def from_config(cls: type[T], node: Any) -> T:
    """The hyper-parameter dataclass `cls` filled from the config fields of the same names (by name,
    so reordering either side cannot swap two values)."""
    return cls(**{f.name: node[f.name] for f in dataclasses.fields(cls)})
