"""Fine-tuning (`train`) and merging (`merge`): what every trained or merged model follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class TrainConfig:
    name: str = MISSING
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    packing: bool = False
    completion_only_loss: bool = True  # loss on the assistant reply only (prompt-completion rows)
    use_cpu: bool = False
    bf16: bool = True
    gradient_checkpointing: bool = False
    padding_free: bool = False  # TRL: flatten the batch, no pad tokens (needs flash attention on GPU)
    use_liger_kernel: bool = False  # Liger's fused kernels (GPU, liger-kernel installed)
    # Multi-GPU strategy for `accelerate launch`: auto (ddp up to ddp_max_params_b, fsdp above) |
    # ddp | fsdp | zero3. Used only when runtime.gpus_per_node * runtime.nodes > 1.
    distributed: str = "auto"
    ddp_max_params_b: float = 1.5
    logging_steps: int = 10
    # Checkpoint every N optimizer steps into <store>/.partial/<step>-<key>/ so a preempted or
    # requeued job resumes there; 0 keeps no checkpoints.
    save_steps: int = 0
    seed: int = 0


@dataclass
class MergeConfig:
    """The fine-tune merged with its base by mergekit (hala_exp/merging, stages/merge.py)."""

    # Any merge method mergekit registers (slerp, linear, task_arithmetic, ties, dare_ties, della, ...),
    # checked against mergekit's own registry at validation; none: the fine-tune is the final model.
    method: str = "slerp"
    # How far toward the fine-tune: slerp's `t`, and the fine-tune's `weight` (base `1 - t` where the base
    # is weighed too: linear, nuslerp, multislerp) unless merge.tuned / merge.base set them. A number in
    # [0, 1], or mergekit's per-layer form: a gradient ([0, 0.5, 1] across the layers) or filtered
    # values ([{filter: self_attn, value: [...]}, {filter: mlp, value: [...]}, {value: 0.5}]); checked at
    # validation (hala_exp/merging/domains.py), hence Any here.
    t: Any = 0.5
    parameters: dict[str, Any] = field(default_factory=dict)  # the method's shared parameters (lambda, normalize)
    base: dict[str, Any] = field(default_factory=dict)  # per-model parameters of the base model
    tuned: dict[str, Any] = field(default_factory=dict)  # per-model parameters of the fine-tune (density, weight)
    dtype: str = "bfloat16"
    # mergekit's MergeOptions (out_shard_size, lazy_unpickle, low_cpu_memory, async_write, ...): how the
    # merge runs and how much memory it takes, never which weights it writes, so not in the step's key.
    # 200M-byte output shards instead of mergekit's 5B: the output is written as it is computed, not
    # held whole (peak -18% on the LFM2-350M shape, and no slower: benchmarks/RESULTS.md).
    options: dict[str, Any] = field(default_factory=lambda: {"out_shard_size": 200_000_000})
