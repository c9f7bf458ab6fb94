"""How a model is loaded and batched for training: what TRL would otherwise decide wrongly for us.

- Dtype: the trainers hold (and save) float32 weights; `train.bf16` is mixed precision (bf16
  compute under autocast, FSDP's bf16 parameter gathers), which keeps float32 master weights
  (accelerate upcasts trainable bf16 parameters under FSDP anyway). The merge's memory estimate
  reads the same constant for the fine-tune it merges.
- Placement: TRL loads with `device_map="auto"` on GPUs unless it recognises the launch as DDP or
  DeepSpeed; under FSDP every rank would then spread a full copy over all GPUs of its node. Under
  any distributed launch the model loads unplaced and accelerate places (or shards) it.
- Attention: transformers' default, sdpa, drops Gemma-2's attention logit softcapping; eager (like
  flash and flex) applies it, as vLLM does (`models.loading.attention`, read at inference too).
- Packing: TRL packs into padding-free batches whose sequence boundaries reach attention through
  position ids and LFM2's short convolutions only as `seq_idx`, which the fused kernel
  (causal-conv1d) reads and the torch fallback ignores: such models get padded batches.
"""

from __future__ import annotations

import logging
from typing import Any

from hala_exp.models.loading import attention

log = logging.getLogger("hala_exp")

TRAINED_DTYPE = "float32"  # what the trainers hold and save: fp32 master weights under bf16 autocast


def packing_leak(config: Any) -> str | None:
    """Why packed sequences would see each other in this architecture, or None when its layers keep
    them apart: a layer that is not attention (LFM2's `conv`) carries state along the sequence."""
    kinds = sorted({k for k in (getattr(config, "layer_types", None) or []) if "attention" not in k})
    if not kinds:
        return None
    return (f"{config.model_type}'s {'/'.join(kinds)} layers ignore packed-sequence boundaries without their "
            "fused kernels (causal-conv1d), so each packed sequence's first tokens would see the one before")


def batch_layout(config: Any, packing: bool, padding_free: bool) -> tuple[bool, bool]:
    """(packing, padding_free) for TRL: as configured, or both off (padded batches) for a model whose
    layers cannot honour packed boundaries; logged with the reason."""
    why = packing_leak(config) if packing or padding_free else None
    if why is None:
        return packing, padding_free
    log.warning("train.packing = %s, train.padding_free = %s: padding batches instead, because %s",
                packing, padding_free, why)
    return False, False


def init_kwargs(config: Any, world_size: int) -> dict[str, Any]:
    """`model_init_kwargs` for TRL's trainers: the training dtype, the attention that keeps the
    architecture's semantics, and no `device_map` when `world_size` > 1 (accelerate places it)."""
    kwargs: dict[str, Any] = {"dtype": TRAINED_DTYPE}
    impl = attention(config)
    if impl:
        kwargs["attn_implementation"] = impl
    if world_size > 1:
        kwargs["device_map"] = None
    return kwargs
