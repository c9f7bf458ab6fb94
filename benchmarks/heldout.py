"""Held-out loss: the pipeline's `heldout` evaluation against a plain loop, on SmolLM2-135M-Instruct.

The same texts (the bundled sample texts, `hala_exp.data.samples_text`) are scored by
`hala_exp.evaluation.heldout.heldout_loss` (length-sorted batches, one context token) and by the
loop anyone would write first: one text at a time, `model(ids, labels=ids).loss` weighted by its
tokens. Each side loads the model itself, in a fresh process, alternating, N times. Prints medians
of texts/s and tokens/s, the ratio, and both mean losses (the plain loop does not score the first
token, so its loss differs slightly).

    python benchmarks/heldout.py [--n 3] [--texts 64] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PIPELINE = r'''
import json, sys, time
from hala_exp.evaluation.heldout import heldout_loss
from hala_exp.models.loading import load_causal_lm, load_tokenizer
model_dir, texts_file, batch, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
texts = json.load(open(texts_file, encoding="utf-8"))
began = time.perf_counter()
tokenizer = load_tokenizer(model_dir)
model = load_causal_lm(model_dir, "cpu", "float32")
loaded = time.perf_counter()
scores = heldout_loss(model, tokenizer, texts, batch, length)
print(json.dumps({"load": loaded - began, "score": time.perf_counter() - loaded, "loss": scores["loss"],
                  "tokens": scores["tokens"]}))
'''

PLAIN = r'''
import json, sys, time
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
model_dir, texts_file, length = sys.argv[1], sys.argv[2], int(sys.argv[3])
texts = json.load(open(texts_file, encoding="utf-8"))
began = time.perf_counter()
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
loaded = time.perf_counter()
nll = tokens = 0.0
with torch.inference_mode():
    for t in texts:
        ids = tokenizer(t, return_tensors="pt", truncation=True, max_length=length)["input_ids"]
        if ids.shape[1] < 2:
            continue
        loss = model(input_ids=ids, labels=ids).loss
        nll += float(loss) * (ids.shape[1] - 1)
        tokens += ids.shape[1] - 1
print(json.dumps({"load": loaded - began, "score": time.perf_counter() - loaded, "loss": nll / tokens,
                  "tokens": tokens}))
'''


def side(script: Path, *args: str) -> dict[str, float]:
    from sft import env

    proc = subprocess.run([sys.executable, str(script), *args], check=True, capture_output=True, text=True, env=env())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sft import converted_model

    from hala_exp.data.samples_text import sample_texts

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3)
    p.add_argument("--texts", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        model = converted_model(root / "smollm2")
        texts = sample_texts()[: a.texts]
        (root / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        (root / "pipeline.py").write_text(PIPELINE, encoding="utf-8")
        (root / "plain.py").write_text(PLAIN, encoding="utf-8")
        ours, plain = [], []
        for _ in range(a.n):
            ours.append(side(root / "pipeline.py", str(model), str(root / "texts.json"), str(a.batch_size),
                             str(a.max_length)))
            plain.append(side(root / "plain.py", str(model), str(root / "texts.json"), str(a.max_length)))
    o, b = (statistics.median(r["score"] for r in runs) for runs in (ours, plain))
    print(f"SmolLM2-135M-Instruct, {len(texts)} texts, batch {a.batch_size}, n={a.n}, {os.cpu_count()} CPUs")
    print("| side | scoring s | texts/s | tokens/s | mean loss |\n|---|---|---|---|---|")
    print(f"| plain loop, one text at a time | {b:.2f} | {len(texts) / b:.1f} | {plain[0]['tokens'] / b:.0f} | "
          f"{plain[0]['loss']:.4f} |")
    print(f"| heldout_loss, batched | {o:.2f} | {len(texts) / o:.1f} | {ours[0]['tokens'] / o:.0f} | "
          f"{ours[0]['loss']:.4f} |")
    print(f"ratio pipeline / plain texts/s: {b / o:.2f}x")


if __name__ == "__main__":
    main()
