"""Checkpoints evaluated as they are (`recipe=compare`): released models, their bases, any other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING


@dataclass
class SystemConfig:
    """One checkpoint under test: a hub id (at `revision`) or a local directory, and its label.

    The label names its steps (`evaluate.<label>`) and its row in the tables; the paper's number
    for it is found by `id` in `hala_exp/evaluation/reference_results.yaml` (`hub_id`).
    """

    label: str = MISSING  # letters, digits, _ and -: a step and metric name part
    id: str = MISSING
    revision: Optional[str] = None
    prompt: Optional[str] = None  # translators: their prompt ({text}); null: eval.translation.prompt
    dtype: str = "bfloat16"  # translators: what the engine runs them in


@dataclass
class SystemsConfig:
    name: str = "none"
    models: list[SystemConfig] = field(default_factory=list)  # lighteval on eval.lighteval.tasks (Table 1)
    translators: list[SystemConfig] = field(default_factory=list)  # the translation protocol (Table 2)
