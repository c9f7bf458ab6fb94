"""A stop signal during training ends it at the next step boundary with a checkpoint, not mid-step.

`hala_exp.stopping.deferred` keeps SIGTERM / SIGINT from interrupting `trainer.train()`; this
callback sees the flag after each optimizer step and asks Trainer to save (into the step's partial
directory, where the next attempt resumes) and to stop. The caller's `deferred` block then raises
`Stopped`, so the step is not committed.
"""

from __future__ import annotations

import logging
from typing import Any

from transformers import TrainerCallback

from hala_exp import stopping

log = logging.getLogger("hala_exp")


def any_rank(flag: bool, device: Any = None) -> bool:
    """True when `flag` is up on any rank of a distributed run (else just `flag`). The ranks get the
    signal at different steps; saving is collective under FSDP / ZeRO-3, so they must all stop at the
    same step or the first to stop waits forever for the others. One scalar all-reduce per step."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    up = torch.tensor([1.0 if flag else 0.0], device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(up, op=dist.ReduceOp.MAX)
    return bool(up.item())


class SaveAndStop(TrainerCallback):
    """Save a checkpoint and stop once a stop signal has come. Put it before `WholeRun`, which then
    also logs at that step, so the checkpoint's log covers every step up to it."""

    def __init__(self) -> None:
        self.stopping_at: int | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stopping_at is None and any_rank(stopping.requested() is not None, args.device):
            self.stopping_at = int(state.global_step)
            control.should_save = True
            control.should_log = True
            control.should_training_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stopping_at is not None and state.is_world_process_zero:
            log.warning("checkpoint-%d saved in %s; the next run resumes from it", state.global_step,
                        args.output_dir)
