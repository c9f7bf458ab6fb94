"""What a merge job needs in memory, from the model's size, its dtypes and `merge.options`.

Measured with `benchmarks/merge.py` (benchmarks/RESULTS.md): mergekit maps both input checkpoints
(safetensors, read through the page cache) and keeps the merged tensors until the shard they belong
to is written, so a merge's peak RSS is close to

    0.5 GB + base checkpoint + fine-tune checkpoint + min(output checkpoint, out_shard_size)

on the LFM2-350M and LFM2-1.2B shapes. Each input counts in the dtype it is stored in: the base in
`model.dtype` (the hub checkpoint's), the fine-tune in the float32 the trainers save
(`hala_exp.models.for_training.TRAINED_DTYPE`), twice the base's bytes for a bf16 model. The merge
job asks Slurm for that plus 20% (at least 1 GB), unless the resources preset sets
`resources.stages.merge.mem_gb` itself.
"""

from __future__ import annotations

import math

from omegaconf import DictConfig

from hala_exp.models.for_training import TRAINED_DTYPE

BASE_GB = 0.5  # interpreter, torch, mergekit and the tokenizer, measured
HEADROOM = 1.2  # and at least HEADROOM_MIN_GB more than the expected peak
HEADROOM_MIN_GB = 1.0
MERGEKIT_SHARD_BYTES = 5_000_000_000  # mergekit's own out_shard_size default (MergeOptions)
# An FP8 checkpoint: 1 byte a linear weight, 2 for what stays 16-bit (embeddings, norms): 1.2 on
# SmolLM2-135M's shapes (a fifth of it is embeddings), less on larger models; an upper bound.
FP8_BYTES_PER_PARAM = 1.2
BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float64": 8, "int8": 1, "float8_e4m3fn": 1}


def dtype_bytes(dtype: str | None) -> int:
    return BYTES.get(str(dtype).removeprefix("torch."), 4)  # unknown: as if float32, never too little


def merge_peak_gb(params_b: float, base_dtype: str, tuned_dtype: str, out_dtype: str,
                  out_shard_size: int | None) -> float:
    """Expected peak RSS in GB of merging a base and a fine-tune of `params_b` billion parameters,
    each stored in its own dtype."""
    inputs = params_b * (dtype_bytes(base_dtype) + dtype_bytes(tuned_dtype))
    output = params_b * dtype_bytes(out_dtype)
    shard = (MERGEKIT_SHARD_BYTES if out_shard_size is None else int(out_shard_size)) / 1e9
    return BASE_GB + inputs + min(output, shard)


def merge_memory_gb(cfg: DictConfig) -> float | None:
    """The merge job's request: the expected peak with headroom, whole GB; None if `model.params_b`
    is unknown (the preset's default then applies)."""
    params_b = cfg.model.get("params_b")
    if params_b is None:
        return None
    options = cfg.merge.get("options") or {}
    peak = merge_peak_gb(float(params_b), cfg.model.dtype, TRAINED_DTYPE, cfg.merge.dtype,
                         options.get("out_shard_size"))
    return with_headroom(peak)


def with_headroom(peak_gb: float) -> float:
    """What a job asks for to hold an expected peak of `peak_gb`: 20% more, at least 1 GB, whole GB."""
    return float(math.ceil(max(peak_gb * HEADROOM, peak_gb + HEADROOM_MIN_GB)))


def merged_gb(cfg: DictConfig) -> float | None:
    """GB of the merged checkpoint (`model.params_b` in `merge.dtype`); None if the size is unknown."""
    params_b = cfg.model.get("params_b")
    return None if params_b is None else float(params_b) * dtype_bytes(cfg.merge.dtype)
