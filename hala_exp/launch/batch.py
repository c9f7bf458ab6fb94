"""A training step's batch where a config runs it: its global batch split over the step's processes."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from hala_exp.stages.declaration import Trains
from hala_exp.training.batch import BatchSplit, split


def training_batch(cfg: DictConfig, trains: Trains, processes: int) -> BatchSplit:
    """The split of the stage's `global_batch` (its `trains.batch` group, else its model's) into
    `micro_batch` x `processes` x accumulation (`hala_exp.training.batch.split`); BatchError naming
    the keys when it cannot be."""
    key = trains.batch or trains.model
    node = OmegaConf.select(cfg, key)
    return split(int(node.global_batch), int(node.micro_batch), processes, key)
