"""Tracking: one W&B run per executed step, or none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class LoggerConfig:
    """Where runs are tracked. Each executed step is one W&B run; reused steps make none."""

    backend: str = "none"  # none | wandb
    project: str = "hala-exp"
    entity: Optional[str] = None
    mode: str = "offline"  # offline (sync later with `wandb sync`) | online
    group: Optional[str] = None  # null: the experiment's name, or "<name>-<sweep dir>" in a multirun
    dir: Optional[str] = None  # null: $WANDB_DIR, else outputs/ (runs go to <dir>/wandb/)
    upload_artifacts: bool = False  # false: artifacts reference the store's paths; true: upload files
