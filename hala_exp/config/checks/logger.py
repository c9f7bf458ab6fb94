"""Checks of the tracking group."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.errors import check_choice


def check_logger(lg: DictConfig) -> None:
    check_choice("logger.backend", lg.backend, ("none", "wandb"))
    check_choice("logger.mode", lg.mode, ("offline", "online"))
