"""What one GPU must hold for a step: a lower bound from the parameters, their dtype and, when
training, gradients and optimizer state. Activations, KV cache and buffers come on top, so a step
refused by this estimate cannot run, and one it passes may still need more (README: Scaling up)."""

from __future__ import annotations

from hala_exp.stages.declaration import Weights

# TRL keeps fp32 weights under bf16 autocast: 4 B weights + 4 B gradient + 8 B AdamW (two moments).
TRAIN_BYTES_PER_PARAM = 16
SHARDED = ("fsdp", "zero3")


def training_gb(weights: Weights, strategy: str, processes: int) -> float:
    """Weights, gradients and AdamW state per GPU: whole on each under DDP or one process, split
    over the processes under FSDP / ZeRO-3."""
    total = weights.params_b * TRAIN_BYTES_PER_PARAM
    return total / processes if strategy in SHARDED else total


def serving_gb(weights: Weights, gpus: int) -> float:
    """The weights per GPU when one model is split over `gpus` (tensor parallel, or layers spread)."""
    return weights.gb / max(gpus, 1)
