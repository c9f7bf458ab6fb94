"""The tiny recipe through vLLM and the FP8 teacher on a GPU (skipped without CUDA).

The CLI runs in this interpreter (the core environment, with llm-compressor); every engine stage
runs where vLLM is: here if it is importable, else in the interpreter named by HALA_PY_VLLM
(requirements/vllm.txt), through `runtime.stages`. Only configuration differs from the CPU run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

VLLM_HERE = importlib.util.find_spec("vllm") is not None
VLLM_PY = os.environ.get("HALA_PY_VLLM")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(not (VLLM_HERE or VLLM_PY), reason="needs vLLM here or HALA_PY_VLLM=<python with vLLM>"),
]
ENGINE_STAGES = ("validate_teacher", "translate_bootstrap", "judge", "translate_corpus", "evaluate_translation")
# vLLM's attention kernels want head sizes of 32 or more: the tiny models get hidden 128 over 2 heads.
GPU_SHAPES = [f"{g}.tiny.{k}={v}" for g in ("teacher", "judge", "translator", "model")
              for k, v in (("hidden_size", 128), ("heads", 2))]


def _vllm_overrides() -> list[str]:
    out = ["engine=vllm", "engine.dtype=bfloat16", "engine.max_model_len=1024", "engine.gpu_memory_utilization=0.3",
           "engine.shard_rows=32"]
    if not VLLM_HERE:
        out += [f"+runtime.envs.vllm={VLLM_PY}", *(f"runtime.stages.{s}=vllm" for s in ENGINE_STAGES)]
    return out


def test_tiny_pipeline_through_vllm_with_fp8_teacher(tmp_path: Path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "hala_exp", f"store={tmp_path / 'store'}",
                           f"hydra.run.dir={run_dir}", *GPU_SHAPES, *_vllm_overrides()],
                          check=False, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert all(s["status"] == "ran" for s in results["stages"].values())
    m = results["metrics"]
    for name in ("ref", "fp8"):
        assert m[f"validate_teacher.{name}.tokens_per_s"] > 0
        assert 0 <= m[f"validate_teacher.{name}.bleu"] <= 100 and 0 <= m[f"validate_teacher.{name}.chrf"] <= 100
    assert m["validate_teacher.fp8.speedup"] > 0
    assert m["translate_bootstrap.rows"] > 0 and m["translate_bootstrap.tokens_per_s"] > 0
    record = json.loads((Path(results["stages"]["translate_bootstrap"]["dir"]) / "record.json").read_text())
    assert record["config"]["engine"]["backend"] == "vllm" and "vllm" in record["versions"]
    print(json.dumps({k: v for k, v in m.items() if "tokens_per_s" in k or k.startswith("validate_teacher")},
                     indent=1))
