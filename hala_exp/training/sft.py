"""One SFT entry point (TRL SFTTrainer) for the translator, the students and tiny warm-ups.

Rows are prompt-completion conversations, so the loss falls on the assistant reply only, with any
model's own chat template (no `{% generation %}` markers needed).
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

if TYPE_CHECKING:
    from datasets import Dataset
    from trl import SFTConfig

Message = dict[str, str]
log = logging.getLogger("hala_exp")


@dataclass
class Hyper:
    """What differs per model size: from the model's config group."""

    learning_rate: float
    global_batch: int  # sequences per optimizer step, over all processes
    micro_batch: int  # sequences per device per forward pass
    max_length: int
    key: str = "model"  # the config group it came from, named in errors


def pair(user: str, assistant: str) -> dict[str, list[Message]]:
    """A prompt-completion row: one user turn, one assistant reply."""
    return {"prompt": [{"role": "user", "content": user}],
            "completion": [{"role": "assistant", "content": assistant}]}


def _state_written(checkpoint: Path) -> bool:
    """Whether the checkpoint's trainer_state.json (written last) is whole: a kill while it is being
    written leaves it empty or cut short, and resuming from it would fail on the JSON."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def last_checkpoint(folder: Path | None) -> str | None:
    """The newest complete `checkpoint-N` in `folder` (trainer_state.json is written last), or None."""
    if folder is None or not folder.is_dir():
        return None
    done = [d for d in folder.glob("checkpoint-*") if d.name.split("-")[-1].isdigit() and _state_written(d)]
    return str(max(done, key=lambda d: int(d.name.split("-")[-1]))) if done else None


def sft_config(model_path: str, hyper: Hyper, train: DictConfig, output_dir: str, max_steps: int,
               save_steps: int = 0) -> SFTConfig:
    """TRL's SFTConfig for `train` and `hyper`, with what the model's own config decides
    (`hala_exp.models.for_training`): how it is loaded, and padded batches where packing would leak."""
    from trl import SFTConfig

    from hala_exp.models.for_training import batch_layout, init_kwargs
    from hala_exp.models.loading import model_config
    from hala_exp.training.batch import for_this_run
    from hala_exp.training.distributed import world_size

    config = model_config(model_path)
    batch = for_this_run(hyper.global_batch, hyper.micro_batch, hyper.key)
    packing, padding_free = batch_layout(config, train.packing, train.get("padding_free", False))
    return SFTConfig(
        output_dir=output_dir,
        model_init_kwargs=init_kwargs(config, world_size()),
        learning_rate=hyper.learning_rate,
        per_device_train_batch_size=batch.micro_batch,
        gradient_accumulation_steps=batch.grad_accum,
        num_train_epochs=train.epochs,
        max_steps=max_steps,
        lr_scheduler_type=train.lr_scheduler,
        warmup_steps=float(train.warmup_ratio),  # a float in [0, 1) is a ratio of total steps
        weight_decay=train.weight_decay,
        logging_steps=train.logging_steps,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        save_total_limit=2 if save_steps else None,  # the newest may be cut short by a kill: keep one more
        report_to=[],
        bf16=train.bf16,
        use_cpu=train.use_cpu,
        gradient_checkpointing=train.gradient_checkpointing,
        max_length=hyper.max_length,
        packing=packing,
        padding_free=padding_free,
        use_liger_kernel=train.get("use_liger_kernel", False),
        completion_only_loss=train.completion_only_loss,
        seed=train.seed,
        data_seed=train.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",  # tokens/s in every training log
    )


def train_sft(model_path: str, rows: list[dict] | Dataset, out: Path, hyper: Hyper, train: DictConfig,
              max_steps: int | None = None, checkpoints: Path | None = None) -> dict[str, float]:
    """Fine-tune `model_path` on `rows` (a list, or a `datasets.Dataset` on disk for corpora too big
    to hold); save model and tokenizer to `out`; return loss metrics.

    With `checkpoints` (a directory that outlives this process) and `train.save_steps > 0`, the
    trainer checkpoints there every `save_steps` steps and a later call resumes from the newest one,
    so a preempted or requeued job continues where it stopped; SIGTERM / SIGINT save one and stop.
    """
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    from hala_exp import stage_records, stopping
    from hala_exp.models.loading import load_tokenizer
    from hala_exp.training.batch import batch_metrics, for_this_run
    from hala_exp.training.distributed import accept_indexed_cpu_locations, is_main, save_trained
    from hala_exp.training.lease_check import StopIfLeaseLost
    from hala_exp.training.run_metrics import WholeRun, train_metrics
    from hala_exp.training.steps_progress import StepsProgress
    from hala_exp.training.stop_signal import SaveAndStop

    if not rows:
        raise ValueError("no training rows: the upstream stage produced an empty dataset")
    tokenizer = load_tokenizer(model_path)
    tokenizer.padding_side = "right"  # training pads on the right; generation switches back
    steps = max_steps if max_steps is not None else train.max_steps
    save_steps = int(train.get("save_steps", 0) or 0)
    keep = checkpoints is not None and save_steps > 0
    batch = for_this_run(hyper.global_batch, hyper.micro_batch, hyper.key)
    args = sft_config(model_path, hyper, train,
                      str(checkpoints) if keep else str(out.parent / (out.name + ".trainer")), steps,
                      save_steps if keep else 0)
    whole = WholeRun()
    dataset = rows if isinstance(rows, Dataset) else Dataset.from_list(rows)
    trainer = SFTTrainer(model=model_path, args=args, train_dataset=dataset,
                         processing_class=tokenizer,
                         callbacks=[StopIfLeaseLost(), StepsProgress(), *([SaveAndStop()] if keep else []), whole,
                                    *stage_records.trainer_callbacks()])
    resume = last_checkpoint(checkpoints) if keep else None
    if resume:
        log.info("resuming from %s", resume)
        if train.use_cpu:
            accept_indexed_cpu_locations()
    # lighteval switches grad off process-wide; a sweep may run it before this. With checkpoints, a
    # stop signal ends training at the next step with one (SaveAndStop), then raises Stopped.
    with torch.enable_grad(), stopping.deferred("saving a checkpoint first") if keep else nullcontext():
        result = trainer.train(resume_from_checkpoint=resume)
    tokenizer.padding_side = "left"
    save_trained(trainer, out, tokenizer)
    if not keep and is_main():
        shutil.rmtree(args.output_dir, ignore_errors=True)  # the store removes `checkpoints` on commit
    return {**train_metrics(whole, result, trainer.state.log_history), "rows": float(len(rows)),
            **batch_metrics(batch)}
