"""A training step's batch: what each process computes and what one optimizer step sees in all."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from hala_exp.stages.info import Trains


@dataclass(frozen=True)
class Batch:
    per_device: int  # rows a process puts through one forward pass
    grad_accum: int  # forward passes per optimizer step
    world_size: int  # training processes
    global_size: int  # rows one optimizer step sees


def training_batch(cfg: DictConfig, trains: Trains, world_size: int) -> Batch:
    """The one place the global batch is worked out: per-device batch x accumulation x processes,
    from the stage's batch settings (`trains.batch`, else its model's group)."""
    node = OmegaConf.select(cfg, trains.batch or trains.model)
    per_device, accum = int(node.batch_size), int(node.get("grad_accum") or 1)
    return Batch(per_device, accum, world_size, per_device * accum * world_size)
