"""The merge stage against `mergekit-yaml` and against the read-two-write-one floor: wall time and peak RSS.

A random pair of one real architecture's shape (bf16, safetensors) is written once; then each side
runs in a fresh process, alternating, N times: the pipeline's merge stage with `merge.options`,
`mergekit-yaml` with the same options, and a plain loop that reads both checkpoints, blends each
tensor and writes the result (the least any merge must do). Prints medians and the ratios, and
peak RSS against the checkpoint's size, for each set of options.

    python benchmarks/merge.py [--shape lfm2_350m|lfm2_1_2b] [--n 3]
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

SHAPES = {
    # LiquidAI/LFM2-350M and LFM2-1.2B: hidden size, MLP width after their block_auto_adjust_ff_dim, heads, layers
    "lfm2_350m": {"hidden_size": 1024, "intermediate_size": 4608, "num_attention_heads": 16, "num_key_value_heads": 8,
                  "vocab_size": 65536, "layer_types": ["conv", "conv", "full_attention", "conv", "conv",
                                                        "full_attention", "conv", "conv", "full_attention", "conv",
                                                        "full_attention", "conv", "full_attention", "conv",
                                                        "full_attention", "conv"]},
    "lfm2_1_2b": {"hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 32, "num_key_value_heads": 8,
                  "vocab_size": 65536, "layer_types": ["conv", "conv", "full_attention", "conv", "conv",
                                                        "full_attention", "conv", "conv", "full_attention", "conv",
                                                        "full_attention", "conv", "full_attention", "conv",
                                                        "full_attention", "conv"]},
}
# Option sets compared (merge.options); mergekit's default shard size is 5B.
OPTIONS = {"default": {}, "shard_200M": {"out_shard_size": 200_000_000},
           "shard_200M_async": {"out_shard_size": 200_000_000, "async_write": True, "write_threads": 2}}

MAKE_PAIR = r"""
import sys, torch
from transformers import Lfm2Config, Lfm2ForCausalLM, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models
import json
shape, out = json.loads(sys.argv[1]), sys.argv[2]
config = Lfm2Config(**shape, num_hidden_layers=len(shape["layer_types"]), block_auto_adjust_ff_dim=False,
                    tie_word_embeddings=True, max_position_embeddings=4096, dtype="bfloat16")
tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
for i, name in enumerate(("base", "tuned")):
    torch.manual_seed(i)
    model = Lfm2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(f"{out}/{name}")
    tok.save_pretrained(f"{out}/{name}")
    print(sum(p.numel() for p in model.parameters()))
"""
STAGE = r"""
import json, sys
from pathlib import Path
from omegaconf import OmegaConf
from hala_exp.stages import merge
d, options = Path(sys.argv[1]), json.loads(sys.argv[2])
out = d / "stage"
out.mkdir()
cfg = OmegaConf.create({"merge": {"method": "slerp", "t": 0.5, "dtype": "bfloat16"}, "options": {"mergekit": options}})
merge.run(cfg, {"base": str(d / "base"), "tuned": str(d / "tuned")}, out)
"""
FLOOR = r"""
import sys, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
d = Path(sys.argv[1])
a, b = load_file(d / "base" / "model.safetensors"), load_file(d / "tuned" / "model.safetensors")
out = {k: (a[k].float() * 0.5 + b[k].float() * 0.5).to(torch.bfloat16) for k in a}
(d / "floor").mkdir()
save_file(out, d / "floor" / "model.safetensors")
"""


def measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in GB) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1e6  # kB -> GB


def mergekit_cmd(d: Path, options: dict) -> list[str]:
    (d / "mk.yml").write_text(json.dumps({"merge_method": "slerp", "base_model": str(d / "base"),
                                          "models": [{"model": str(d / "base")}, {"model": str(d / "tuned")}],
                                          "parameters": {"t": 0.5}, "dtype": "bfloat16"}))
    flags = []
    for k, v in options.items():
        flag = "--" + k.replace("_", "-")
        flags += [flag] if v is True else [flag, str(v)]
    return [str(Path(sys.executable).with_name("mergekit-yaml")), str(d / "mk.yml"), str(d / "mk"),
            "--no-write-model-card", "--copy-tokenizer", "--quiet", *flags]


def clean(d: Path) -> None:
    import shutil

    for name in ("stage", "mk", "floor"):
        shutil.rmtree(d / name, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="lfm2_350m", choices=SHAPES)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--options", default=",".join(OPTIONS))
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        made = subprocess.run([sys.executable, "-c", MAKE_PAIR, json.dumps(SHAPES[args.shape]), tmp],
                              capture_output=True, text=True, check=True)
        params = int(made.stdout.split()[0])
        ckpt_gb = (d / "base" / "model.safetensors").stat().st_size / 1e9
        print(f"shape {args.shape}: {params / 1e9:.2f}B parameters, checkpoint {ckpt_gb:.2f} GB (bf16); n={args.n}")
        print("| options | stage s | mergekit-yaml s | floor s | stage / mergekit | stage / floor "
              "| stage peak GB | mergekit peak GB | floor peak GB | stage peak / checkpoint |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name in args.options.split(","):
            options = OPTIONS[name]
            runs: dict[str, list[tuple[float, float]]] = {"stage": [], "mk": [], "floor": []}
            for _ in range(args.n):
                for side, cmd in (("stage", [sys.executable, "-c", STAGE, tmp, json.dumps(options)]),
                                  ("mk", mergekit_cmd(d, options)), ("floor", [sys.executable, "-c", FLOOR, tmp])):
                    clean(d)
                    runs[side].append(measured(cmd))
            med = {k: (statistics.median(w for w, _ in v), max(r for _, r in v)) for k, v in runs.items()}
            print(f"| {name} {options or ''} | {med['stage'][0]:.2f} | {med['mk'][0]:.2f} | {med['floor'][0]:.2f} "
                  f"| {med['stage'][0] / med['mk'][0]:.2f}x | {med['stage'][0] / med['floor'][0]:.2f}x "
                  f"| {med['stage'][1]:.2f} | {med['mk'][1]:.2f} | {med['floor'][1]:.2f} "
                  f"| {med['stage'][1] / ckpt_gb:.2f}x |")
        clean(d)


if __name__ == "__main__":
    main()
