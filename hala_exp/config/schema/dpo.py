"""Direct preference optimisation after SFT, in either recipe."""

from __future__ import annotations

from dataclasses import dataclass

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
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    max_steps: int = 1000
    use_cpu: bool = False
    bf16: bool = True
    seed: int = 0
