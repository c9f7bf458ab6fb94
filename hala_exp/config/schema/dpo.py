"""Direct preference optimisation after SFT, in either recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import MISSING

from hala_exp.config.schema.sources import PreferenceSourceConfig


@dataclass
class DpoConfig:
    """Direct preference optimisation after SFT (TRL DPOTrainer); a stage between sft and merge."""

    enabled: bool = False
    preferences: PreferenceSourceConfig = MISSING
    beta: float = 0.1
    loss_type: str = "sigmoid"
    learning_rate: float = 5e-7
    # The batch (README: Batch): preference pairs per optimizer step over all the step's processes (in its
    # key), and per device per pass (memory only: out of the key); accumulation follows from the two.
    global_batch: int = 8
    micro_batch: int = 8
    # Removed (per-device batch_size and a fixed grad_accum): set, they are refused at validation.
    batch_size: Optional[int] = None
    grad_accum: Optional[int] = None
    max_length: int = 1024
    max_steps: int = 1000
    use_cpu: bool = False
    bf16: bool = True
    seed: int = 0
