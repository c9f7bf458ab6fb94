"""Continued pre-training: causal LM on raw text, packed (TRL SFTTrainer on a "text" column).

Held-out Arabic and English texts are scored before and after (eval loss per language), which is
what a mixture-ratio ablation compares: Arabic gained against English forgotten.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CptHyper:
    learning_rate: float
    global_batch: int  # sequences per optimizer step, over all processes
    micro_batch: int  # sequences per device per forward pass
    max_length: int
    max_steps: int
    warmup_ratio: float
    lr_scheduler: str
    weight_decay: float
    max_grad_norm: float
    packing: bool
    use_cpu: bool
    bf16: bool
    seed: int
    eval_steps: int = 0  # > 0: held-out loss every N steps as well


def _heldout_loss(trainer, evals: dict, lang: str) -> float:
    """One language's held-out loss, logged under the same name as the periodic evaluation's
    (`eval_<lang>_loss`), so before, during and after training are one curve."""
    return float(trainer.evaluate(evals[lang], metric_key_prefix=f"eval_{lang}")[f"eval_{lang}_loss"])


def train_cpt(model_path: str, texts: list[str], heldout: dict[str, list[str]], out: Path,
              h: CptHyper) -> tuple[dict[str, float], list[dict]]:
    """Train on `texts`; save model + tokenizer to `out`; eval loss per held-out language before/after."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from hala_exp import stage_records
    from hala_exp.models.for_training import batch_layout, init_kwargs
    from hala_exp.models.loading import load_tokenizer, model_config
    from hala_exp.training.batch import batch_metrics, for_this_run
    from hala_exp.training.distributed import is_main, save_trained, world_size
    from hala_exp.training.lease_check import StopIfLeaseLost
    from hala_exp.training.run_metrics import WholeRun, train_metrics
    from hala_exp.training.steps_progress import StepsProgress

    if not texts:
        raise ValueError("no pre-training text: the mixture is empty")
    tokenizer = load_tokenizer(model_path)
    tokenizer.padding_side = "right"
    config = model_config(model_path)
    packing, _ = batch_layout(config, h.packing, False)
    batch = for_this_run(h.global_batch, h.micro_batch, "allam.cpt")
    args = SFTConfig(
        output_dir=str(out.parent / (out.name + ".trainer")), model_init_kwargs=init_kwargs(config, world_size()),
        learning_rate=h.learning_rate, per_device_train_batch_size=batch.micro_batch,
        per_device_eval_batch_size=batch.micro_batch, gradient_accumulation_steps=batch.grad_accum,
        max_steps=h.max_steps, lr_scheduler_type=h.lr_scheduler, warmup_steps=float(h.warmup_ratio),
        weight_decay=h.weight_decay, max_grad_norm=h.max_grad_norm, logging_steps=1,
        save_strategy="no", report_to=[], bf16=h.bf16, use_cpu=h.use_cpu, max_length=h.max_length,
        packing=packing, eval_packing=packing, dataset_text_field="text", completion_only_loss=False,
        seed=h.seed, data_seed=h.seed, dataloader_num_workers=0, disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",  # tokens/s in every training log
        eval_strategy="steps" if h.eval_steps > 0 and heldout else "no", eval_steps=h.eval_steps or None,
    )
    evals = {lang: Dataset.from_list([{"text": t} for t in ts]) for lang, ts in heldout.items() if ts}
    whole = WholeRun()
    trainer = SFTTrainer(model=model_path, args=args, train_dataset=Dataset.from_list([{"text": t} for t in texts]),
                         eval_dataset=evals or None, processing_class=tokenizer,
                         callbacks=[StopIfLeaseLost(), StepsProgress(), whole,
                                    *stage_records.trainer_callbacks()])
    metrics: dict[str, float] = {}
    for lang in evals:
        metrics[f"heldout.{lang}.loss_before"] = _heldout_loss(trainer, evals, lang)
        metrics[f"heldout.{lang}.loss_step0"] = metrics[f"heldout.{lang}.loss_before"]  # the curve's start
    with torch.enable_grad():  # lighteval switches grad off process-wide; a sweep may run it before this
        result = trainer.train()
    periodic = list(trainer.state.log_history)  # before the final evaluation adds its own row
    for lang in evals:
        loss = _heldout_loss(trainer, evals, lang)
        metrics[f"heldout.{lang}.loss"] = loss
        metrics[f"heldout.{lang}.ppl"] = math.exp(min(loss, 50.0))
    tokenizer.padding_side = "left"
    save_trained(trainer, out, tokenizer)
    if is_main():
        shutil.rmtree(args.output_dir, ignore_errors=True)
    for row in periodic:  # the periodic held-out losses (eval_strategy=steps)
        for lang in evals:
            if f"eval_{lang}_loss" in row:
                metrics[f"heldout.{lang}.loss_step{row['step']}"] = float(row[f"eval_{lang}_loss"])
    metrics.update(train_metrics(whole, result, periodic))
    metrics.update(batch_metrics(batch))
    return metrics, periodic

