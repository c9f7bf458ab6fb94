"""Training steps as a progress task (the console's bar with rate and ETA), from any HF Trainer."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from hala_exp import progress


class StepsProgress(TrainerCallback):
    """Reports `global_step` of `max_steps` from the main process; a resumed run starts at its checkpoint."""

    def __init__(self, desc: str = "train"):
        self.desc = desc
        self.task: progress.Task | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.task = progress.start(state.max_steps, "steps", self.desc, initial=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.task is not None:
            self.task.update(state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.task is not None:
            self.task.close()
            self.task = None
