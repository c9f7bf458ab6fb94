"""What a training run writes when several processes train one model: full weights, by rank 0 only.

DDP keeps a full replica per rank, so rank 0's weights are the model. FSDP and DeepSpeed ZeRO-3
shard the parameters: each rank holds a slice, and Trainer's `save_model` writes no weights at all
under FSDP's SHARDED_STATE_DICT (the checkpoint type we keep for fast, resumable checkpoints). The
final save therefore gathers the full state dict (a collective: every rank must call it), rank 0
writes it as an ordinary Hugging Face checkpoint, and the folder is checked for weights before the
step may commit, so a tokenizer-only "model" can never reach merge or evaluation.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def rank() -> int:
    """This process's global rank under `accelerate launch` / torchrun (0 when not distributed)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Processes training this model under `accelerate launch` / torchrun (1 when not distributed)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Whether this process writes shared files (rank 0; the only process when not distributed)."""
    return rank() == 0


def gather_full_state_dict(model: Any) -> dict[str, Any]:
    """The full, unsharded state dict on rank 0 (CPU tensors), an empty dict on the other ranks.

    Works for FSDP 1 and 2 (and plain modules) through torch's distributed-checkpoint API, the call
    accelerate itself makes for FSDP 2. Collective: every rank must call it.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def require_weights(folder: Path) -> None:
    """Raise unless `folder` holds model weights (a full checkpoint, not a config and tokenizer only)."""
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise RuntimeError(f"{folder}: training saved no model weights (files: {present}); "
                           "a sharded strategy must gather its parameters on save")


_CPU_INDEXED = False


def accept_indexed_cpu_locations() -> None:
    """Let `torch.load` map storages to `cpu:N`. Trainer resumes a run of several processes with
    `map_location=args.device`, which on CPU ranks is `cpu:0`, a location torch's loader rejects
    ("don't know how to restore data location"): a multi-process CPU run could never resume."""
    global _CPU_INDEXED
    if _CPU_INDEXED:
        return
    import torch

    torch.serialization.register_package(
        11, lambda obj: None, lambda obj, location: obj if location.startswith("cpu:") else None)
    _CPU_INDEXED = True


def save_trained(trainer: Any, out: Path, tokenizer: Any | None = None) -> None:
    """Full weights (and the tokenizer) of `trainer`'s model into `out`, written by rank 0 only.

    FSDP: the sharded parameters are gathered here. DeepSpeed ZeRO-3: Trainer's `save_model`
    consolidates the 16-bit weights (`stage3_gather_16bit_weights_on_model_save`). DDP and one
    device: `save_model` writes rank 0's replica. Every rank must call this.
    """
    if trainer.is_fsdp_enabled:
        state = gather_full_state_dict(trainer.model)
        if trainer.args.should_save:
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(out), state_dict=state)
    else:
        trainer.save_model(str(out))
    if trainer.args.should_save:
        if tokenizer is not None:
            tokenizer.save_pretrained(str(out))
        require_weights(out)
    trainer.accelerator.wait_for_everyone()  # no rank returns (and exits) before the weights are on disk
