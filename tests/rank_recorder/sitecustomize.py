"""Loaded by every interpreter started with this folder on PYTHONPATH and HALA_RECORD_DIR set: each
training rank (RANK set) records what it trains on and what it ends with, for tests to check.

- `rows-rank<R>.jsonl`: per micro-batch, the optimizer step and the training-set indices of its rows
  (each sequence fed to the model, matched against the trainer's tokenized training set);
- `final-rank<R>.pt`: the rank's full parameters when `train()` returns (sharded ones gathered);
- `launcher-rank<R>.json`: the rank's launcher process, node rank and world size;
- `log-rank<R>.json`: the trainer's log history (loss per logged step) when `train()` returns.
A training process started without a launcher records as rank 0 of 1 when `HALA_RECORD_ALONE` is set.
`HALA_RECORD_DELAY_S` slows each micro-batch down, so a test can interrupt a run between checkpoints.
"""

import json
import os
import socket
import time

_DIR = os.environ.get("HALA_RECORD_DIR")
_RANK = os.environ.get("RANK", "0" if os.environ.get("HALA_RECORD_ALONE") else None)

if _DIR and _RANK is not None:
    from pathlib import Path

    import torch
    from transformers import Trainer

    _step, _train = Trainer.training_step, Trainer.train
    Path(_DIR, f"launcher-rank{_RANK}.json").write_text(json.dumps({
        "rank": int(_RANK), "world_size": int(os.environ.get("WORLD_SIZE", "1")), "launcher_pid": os.getppid(),
        "host": socket.gethostname(), "group_rank": int(os.environ.get("GROUP_RANK", "-1")),
        "local_rank": int(os.environ.get("LOCAL_RANK", "0"))}))

    def _index(trainer):
        if not hasattr(trainer, "_row_index"):
            trainer._row_index = {tuple(ids): i for i, ids in enumerate(trainer.train_dataset["input_ids"])}
        return trainer._row_index

    def training_step(self, model, inputs, *args, **kwargs):
        ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        rows = []
        for b in range(ids.shape[0]):
            seq = ids[b][mask[b].bool()] if mask is not None else ids[b]
            rows.append(_index(self).get(tuple(seq.tolist()), -1))
        with open(Path(_DIR, f"rows-rank{_RANK}.jsonl"), "a") as f:
            f.write(json.dumps({"step": self.state.global_step, "rows": rows}) + "\n")
        delay = float(os.environ.get("HALA_RECORD_DELAY_S", "0") or 0)
        if delay:
            time.sleep(delay)
        return _step(self, model, inputs, *args, **kwargs)

    def train(self, *args, **kwargs):
        out = _train(self, *args, **kwargs)
        full = {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().cpu().clone()
                for k, v in self.model.state_dict().items()}
        torch.save(full, Path(_DIR, f"final-rank{_RANK}.pt"))
        Path(_DIR, f"log-rank{_RANK}.json").write_text(json.dumps(self.state.log_history))
        return out

    Trainer.training_step, Trainer.train = training_step, train
