"""The generation engine every translating, judging and evaluating stage goes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class EngineConfig:
    """Where generation runs. `transformers` on CPU / small GPUs; `vllm` on GPU nodes."""

    backend: str = "transformers"  # transformers | vllm
    batch_size: int = 16  # transformers: prompts per generate call (vLLM schedules its own batches)
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto: the model's dtype on GPU, float32 on CPU
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    # Rows per shard of a translation / judging pass: each shard is committed on its own, so a
    # killed job resumes at the first missing shard.
    shard_rows: int = 512
    # vLLM only.
    tensor_parallel_size: int = 1
    max_model_len: Optional[int] = None  # null: the model's own context length
    gpu_memory_utilization: float = 0.9
    quantization: Optional[str] = None  # null: read from the checkpoint (compressed-tensors FP8)
    enable_prefix_caching: str = "auto"  # auto (off for LFM2: its hybrid cache lacks it) | on | off
    max_num_seqs: Optional[int] = None
    enforce_eager: bool = False
