"""Does the micro-batch change what a fine-tune learns? The measurement behind keeping it out of keys.

The pipeline's SFT stage trains one tiny LFM2 (built in code) with the same global batch, seed and
rows, in one process, once per micro-batch (so with 8, 4, 2, 1 ... accumulated micro-batches), and
prints, against the largest micro-batch, the largest difference in the loss logged at any step and
in any trained weight. Differences at float32 rounding say the micro-batch only sets memory per
device, as the global batch sets the weights (README: Batch).

    python benchmarks/micro_batch.py [--global-batch 8] [--rows 64] [--padding-free]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def train(model: Path, rows: list[dict], out: Path, global_batch: int, micro_batch: int,
          padding_free: bool) -> tuple[list[float], dict]:
    from omegaconf import OmegaConf
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from hala_exp.training import sft

    losses: list[float] = []

    class Losses(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    train_cfg = OmegaConf.create({"epochs": 1, "max_steps": -1, "warmup_ratio": 0.0, "lr_scheduler": "linear",
                                  "weight_decay": 0.0, "packing": False, "padding_free": padding_free,
                                  "completion_only_loss": True, "use_cpu": True, "bf16": False,
                                  "gradient_checkpointing": False, "logging_steps": 1, "seed": 0})
    from hala_exp import stage_records

    sink = type("S", (), {"log": lambda *a: None, "table": lambda *a: None,
                          "trainer_callbacks": lambda self: [Losses()]})()
    stage_records.attach(sink)
    try:
        sft.train_sft(str(model), rows, out, sft.Hyper(1e-3, global_batch, micro_batch, 64), train_cfg)
    finally:
        stage_records.detach(sink)
    return losses, load_file(str(out / "model.safetensors"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--global-batch", type=int, default=8)
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--padding-free", action="store_true")
    a = p.parse_args()

    from hala_exp.data.samples_text import sample_texts
    from hala_exp.models.tiny import save_tiny
    from hala_exp.training.sft import pair

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        save_tiny(root / "base", arch="lfm2", texts=sample_texts(), vocab_size=512, hidden_size=32, layers=2,
                  heads=2, intermediate_size=64, max_position=512, seed=0)
        rows = [pair(f"قل {i} الآن", "العنصر " * (1 + i % 5) + str(i)) for i in range(a.rows)]
        micros = [m for m in (a.global_batch, a.global_batch // 2, a.global_batch // 4, 1)
                  if m >= 1 and a.global_batch % m == 0]
        runs = {m: train(root / "base", rows, root / f"m{m}", a.global_batch, m, a.padding_free)
                for m in dict.fromkeys(micros)}
        ref_loss, ref_w = runs[micros[0]]
        print(f"global batch {a.global_batch}, {a.rows} rows, {len(ref_loss)} optimizer steps, "
              f"padding_free={a.padding_free}; against micro-batch {micros[0]}:")
        print(f"{'micro':>6} {'accum':>6} {'max |d loss|':>14} {'max |d weight|':>15} {'final loss':>11}")
        for m, (loss, w) in runs.items():
            dl = max(abs(x - y) for x, y in zip(loss, ref_loss))
            dw = max(float((w[n] - ref_w[n]).abs().max()) for n in w)
            print(f"{m:>6} {a.global_batch // m:>6} {dl:>14.3g} {dw:>15.3g} {loss[-1]:>11.6f}")


if __name__ == "__main__":
    main()
