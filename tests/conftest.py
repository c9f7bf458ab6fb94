"""Shared fixtures: tiny models built in code, caches kept out of ~/.cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hala_exp.data.samples_text import sample_texts


@pytest.fixture(autouse=True, scope="session")
def _offline_caches(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    for var in ("HF_HOME", "HF_DATASETS_CACHE", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR",
                "XDG_CACHE_HOME"):
        os.environ.setdefault(var, str(cache / var.lower()))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    yield


def _build(path: Path, arch: str, seed: int) -> Path:
    from hala_exp.models.tiny import save_tiny

    save_tiny(path, arch=arch, texts=sample_texts(), vocab_size=512, hidden_size=32, layers=2,
              heads=2, intermediate_size=64, max_position=512, seed=seed)
    return path


@pytest.fixture(scope="session")
def tiny_lfm2(tmp_path_factory) -> Path:
    """A random tiny LFM2 (real architecture) with a locally trained Arabic/English tokenizer."""
    return _build(tmp_path_factory.mktemp("lfm2"), "lfm2", seed=0)


@pytest.fixture(scope="session")
def tiny_lfm2_other(tmp_path_factory) -> Path:
    """A second tiny LFM2 with the same tokenizer and shapes but other weights (for merges)."""
    return _build(tmp_path_factory.mktemp("lfm2b"), "lfm2", seed=1)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("llama"), "llama", seed=0)
