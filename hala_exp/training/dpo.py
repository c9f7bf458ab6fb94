"""Preference alignment after SFT: TRL's DPOTrainer on (prompt, chosen, rejected) pairs.

The pairs are conversational (one user turn; chosen / rejected assistant replies), so any model's
chat template applies. The mean log-probability margin log p(chosen) - log p(rejected) under the
policy is measured on the training pairs before and after, so a run shows which way DPO moved it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass
class DpoHyper:
    beta: float
    loss_type: str
    learning_rate: float
    global_batch: int  # preference pairs per optimizer step, over all processes
    micro_batch: int  # pairs per device per forward pass
    max_length: int
    max_steps: int
    use_cpu: bool
    bf16: bool
    seed: int


def conversational(prompt: str, chosen: str, rejected: str) -> dict:
    return {"prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def sequence_logprob(model, tokenizer, prompt: list[dict], reply: list[dict]) -> float:
    """Sum of log p(reply tokens | prompt) under `model`, through the chat template."""
    import torch

    p_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    full = tokenizer.apply_chat_template(prompt + reply, tokenize=True, return_dict=False)
    ids = torch.tensor([full], device=model.device)
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
    targets = ids[0, 1:]
    start = len(p_ids) - 1
    return float(logp[start:].gather(1, targets[start:, None]).sum())


def preference_margin(model, tokenizer, rows: list[dict]) -> float:
    """Mean over rows of log p(chosen) - log p(rejected)."""
    model.eval()
    margins = [sequence_logprob(model, tokenizer, r["prompt"], r["chosen"])
               - sequence_logprob(model, tokenizer, r["prompt"], r["rejected"]) for r in rows]
    return sum(margins) / len(margins)


def train_dpo(model_path: str, rows: list[dict], out: Path, h: DpoHyper) -> dict[str, float]:
    """DPO from `model_path` (also the frozen reference); save policy + tokenizer to `out`.

    TRL loads both from the path (`hala_exp.models.for_training`: the training dtype, no device
    map under a distributed launch) and accelerate places or shards them; the margin before is
    measured on the reference, the starting weights where accelerate put them."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from hala_exp import stage_records
    from hala_exp.models.for_training import init_kwargs
    from hala_exp.models.loading import load_tokenizer, model_config
    from hala_exp.training.batch import batch_metrics, for_this_run
    from hala_exp.training.distributed import is_main, save_trained, world_size
    from hala_exp.training.lease_check import StopIfLeaseLost
    from hala_exp.training.run_metrics import WholeRun, train_metrics
    from hala_exp.training.steps_progress import StepsProgress

    if not rows:
        raise ValueError("no preference pairs: the preference source gave no rows")
    tokenizer = load_tokenizer(model_path)
    batch = for_this_run(h.global_batch, h.micro_batch, "dpo")
    args = DPOConfig(
        output_dir=str(out.parent / (out.name + ".trainer")), beta=h.beta, loss_type=[h.loss_type],
        model_init_kwargs=init_kwargs(model_config(model_path), world_size()),  # the reference's too
        learning_rate=h.learning_rate, per_device_train_batch_size=batch.micro_batch,
        gradient_accumulation_steps=batch.grad_accum, max_length=h.max_length, max_steps=h.max_steps,
        num_train_epochs=1.0,  # one pass over the pairs unless max_steps > 0
        logging_steps=1, save_strategy="no", report_to=[], bf16=h.bf16, use_cpu=h.use_cpu,
        gradient_checkpointing=False, seed=h.seed, data_seed=h.seed, dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",  # tokens/s in every training log
    )
    whole = WholeRun()
    trainer = DPOTrainer(model=model_path, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer,
                         callbacks=[StopIfLeaseLost(), StepsProgress(), whole, *stage_records.trainer_callbacks()])
    before = preference_margin(trainer.ref_model, tokenizer, rows)  # every rank: a sharded forward is collective
    with torch.enable_grad():  # lighteval switches grad off process-wide; a sweep may run it before this
        result = trainer.train()
    save_trained(trainer, out, tokenizer)
    if is_main():
        shutil.rmtree(args.output_dir, ignore_errors=True)
    after = preference_margin(trainer.model, tokenizer, rows)  # every rank: a sharded forward is collective
    logs = [x for x in trainer.state.log_history if "loss" in x]
    last = logs[-1] if logs else {}
    return {**train_metrics(whole, result, trainer.state.log_history), "pairs": float(len(rows)),
            "margin_before": before, "margin_after": after,
            "margin_gain": after - before,
            "rewards_accuracy": float(last.get("rewards/accuracies", float("nan"))),
            "rewards_margin": float(last.get("rewards/margins", float("nan"))), **batch_metrics(batch)}
