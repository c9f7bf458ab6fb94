"""Training stops at the next optimizer step once its runner has lost the step's lease.

The run that took the lease over resumes from the same checkpoint folder; a checkpoint written now
by this one would land in a folder it no longer owns (`hala_exp.fence`). The check comes
in `on_step_end`, before Trainer saves that step's checkpoint, and every rank raises at the same
step (one scalar all-reduce), so no rank waits in a collective for one that stopped.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from hala_exp import fence
from hala_exp.training.stop_signal import any_rank


class StopIfLeaseLost(TrainerCallback):
    """Raise `fence.LeaseLost` at the first step end where the lease is no longer this run's.
    Put it first: no callback after it acts on that step (a checkpoint asked for by a stop signal)."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        why = fence.lost()
        if any_rank(why is not None, args.device):
            raise why or fence.LeaseLost("(another rank's lease check)", None)
