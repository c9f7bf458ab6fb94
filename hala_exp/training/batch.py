"""The batch of a training step: a global batch the config names, split over the step's processes.

A config names the global batch (sequences per optimizer step: what determines the weights) and a
per-device micro-batch (what fits in one device's memory); the gradient accumulation follows from
the number of processes the step trains in. So a fine-tune trains the same on 1 GPU, 8 or 16, and
its key never depends on the cluster's shape. `split` is the one place that derivation lives:
validation, the plan and the trainers call it, and what it returns is what the console, results.json
and W&B show (`batch_metrics`, `from_metrics`, `BatchSplit.describe`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

# Settings a config may no longer set, and what replaced them.
REMOVED = {
    "grad_accum": "the accumulation now follows from {key}.global_batch / ({key}.micro_batch x the training "
                  "processes)",
    "batch_size": "it was the per-device batch: that is {key}.micro_batch now, and {key}.global_batch sets the "
                  "sequences per optimizer step over all processes",
}


class BatchError(ValueError):
    """A global batch that the micro-batch and process count cannot split; the message says the fix."""


@dataclass(frozen=True)
class BatchSplit:
    """Sequences per optimizer step = micro_batch x processes x grad_accum."""

    global_batch: int
    micro_batch: int
    processes: int
    grad_accum: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def describe(self) -> str:
        """`global 256 = micro 8 x 8 processes x 4 accumulated`: one line for consoles and plans."""
        procs = "process" if self.processes == 1 else "processes"
        return (f"global {self.global_batch} = micro {self.micro_batch} x {self.processes} {procs} "
                f"x {self.grad_accum} accumulated")


def processes(gpus_per_node: int, nodes: int) -> int:
    """Processes a training step runs in with these GPUs: one per GPU when there are several in
    total (`accelerate launch`), else one."""
    total = gpus_per_node * nodes
    return total if total > 1 else 1


def split(global_batch: int, micro_batch: int, n_processes: int, key: str = "model") -> BatchSplit:
    """The gradient accumulation that makes `micro_batch` x `n_processes` add up to `global_batch`;
    BatchError naming `<key>.global_batch` when they cannot."""
    if global_batch <= 0 or micro_batch <= 0 or n_processes <= 0:
        raise BatchError(f"{key}.global_batch = {global_batch}, {key}.micro_batch = {micro_batch} on "
                         f"{n_processes} process(es): all must be positive. Fix: set {key}.global_batch and "
                         f"{key}.micro_batch to positive values")
    per_pass = micro_batch * n_processes
    if global_batch % per_pass:
        fits = [m for m in range(1, micro_batch + 1) if global_batch % (m * n_processes) == 0]
        other = (f"{key}.micro_batch={fits[-1]}" if fits else
                 f"a number of GPUs that divides {global_batch}")
        raise BatchError(f"{key}.global_batch = {global_batch}: {key}.micro_batch = {micro_batch} x "
                         f"{n_processes} training process(es) = {per_pass} sequences per pass does not divide it, "
                         f"so no gradient accumulation reaches it. Fix: set {key}.global_batch to a multiple of "
                         f"{per_pass}, or use {other}")
    return BatchSplit(global_batch, micro_batch, n_processes, global_batch // per_pass)


def removed_settings(key: str, node: Mapping[str, Any]) -> list[str]:
    """One message per removed batch setting `node` still sets (not null)."""
    return [f"{key}.{name} = {node.get(name)} is no longer a setting: {why.format(key=key)}. Fix: remove "
            f"{key}.{name} and set {key}.global_batch (e.g. the old batch_size x grad_accum x GPUs) and "
            f"{key}.micro_batch" for name, why in REMOVED.items() if node.get(name) is not None]


def for_this_run(global_batch: int, micro_batch: int, key: str) -> BatchSplit:
    """The split for the processes this training step runs in (checked at validation already; a
    job given other GPUs than planned still trains the configured global batch, or stops here)."""
    from hala_exp.training.distributed import world_size

    return split(global_batch, micro_batch, world_size(), key)


def batch_metrics(b: BatchSplit) -> dict[str, float]:
    """The split as a step's metrics (`batch.*`): in results.json, W&B and the console's line."""
    return {f"batch.{k}": float(v) for k, v in b.as_dict().items()}


def from_metrics(metrics: dict[str, float]) -> BatchSplit | None:
    """The split a step reported through `batch_metrics`, or None (not a training step)."""
    try:
        return BatchSplit(**{f.name: int(metrics[f"batch.{f.name}"]) for f in fields(BatchSplit)})
    except KeyError:
        return None
