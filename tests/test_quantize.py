"""Stage 1 (quantize_teacher): the FP8 checkpoint on disk, its reload, and the probe comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from safetensors import safe_open
from snapshots import snapshot_of

from hala_exp.config import compose
from hala_exp.data.adapters import load_parallel
from hala_exp.stages import quantize_teacher

PROBE_ROWS = 4


@pytest.fixture(scope="module")
def quantized(tiny_llama, tmp_path_factory) -> tuple[Path, dict[str, float], object]:
    full = compose(["teacher=tiny", f"teacher.probe_rows={PROBE_ROWS}", "teacher.max_new_tokens=8",
                    "engine.device=cpu", "engine.batch_size=4"])
    cfg = OmegaConf.create({"teacher": full.teacher, "engine": full.engine, "probe": full.eval.translation.source})
    out = tmp_path_factory.mktemp("quantize")
    probe = snapshot_of(cfg.probe, "parallel", "translation", out / "probe")
    metrics = quantize_teacher.run(cfg, {"model": str(tiny_llama), "probe": probe}, out)
    metrics.update(quantize_teacher.run_validate(cfg, {"model": str(tiny_llama), "fp8": str(out / "model"),
                                                       "probe": probe}, out))
    return out, metrics, cfg


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)


def test_checkpoint_is_fp8_per_channel(quantized, tiny_llama):
    from transformers import AutoModelForCausalLM

    out, _, _ = quantized
    original = AutoModelForCausalLM.from_pretrained(tiny_llama)
    linears = {n: m for n, m in original.named_modules() if isinstance(m, torch.nn.Linear)}
    assert "lm_head" in linears and len(linears) > 1
    saved = _tensors(out / "model")
    for name, lin in linears.items():
        if name == "lm_head":
            continue
        assert saved[f"{name}.weight"].dtype == torch.float8_e4m3fn, name
        scale = saved[f"{name}.weight_scale"]
        assert scale.shape == (lin.out_features, 1) and scale.is_floating_point(), name  # one per channel
        # Dequantized, each weight is within e4m3 rounding of the original: half an ulp (3 mantissa
        # bits: 2^-4 relative), or half the subnormal step (2^-9 of the scale) near zero.
        w = lin.weight.detach()
        err = (saved[f"{name}.weight"].float() * scale.float() - w).abs()
        assert (err <= w.abs() * 2**-4 + scale.float() * 2**-10 + 1e-7).all(), name
    assert saved["lm_head.weight"].dtype == torch.float32 and "lm_head.weight_scale" not in saved
    torch.testing.assert_close(saved["lm_head.weight"], original.lm_head.weight.detach())
    qcfg = json.loads((out / "model" / "config.json").read_text())["quantization_config"]
    assert qcfg["quant_method"] == "compressed-tensors" and qcfg["ignore"] == ["lm_head"]
    assert qcfg["config_groups"]["group_0"]["input_activations"]["dynamic"] is True


def test_reloads_and_generates(quantized):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _, _ = quantized
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(out / "model", dtype=torch.float32)
    ids = tok.apply_chat_template([{"role": "user", "content": "Translate: hello"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    gen = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids["input_ids"].shape[1]


def test_probe_and_metrics(quantized):
    out, metrics, cfg = quantized
    expected_ids = [r["id"] for r in load_parallel(cfg.probe, "translation")[:PROBE_ROWS]]
    lines = [json.loads(x) for x in (out / "probe.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == expected_ids
    assert all(isinstance(x["ref"], str) and isinstance(x["fp8"], str) for x in lines)
    keys = {"ref.bleu", "fp8.bleu", "ref.chrf", "fp8.chrf", "agree.exact", "agree.chrf", "logits.max_abs_diff",
            "ref.tokens_per_s", "fp8.tokens_per_s"}
    assert keys <= set(metrics)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    assert metrics["probe.rows"] == PROBE_ROWS
    assert metrics["agree.exact"] == sum(x["ref"] == x["fp8"] for x in lines) / PROBE_ROWS
    assert 0.0 <= metrics["agree.prefix"] <= 1.0
    if metrics["agree.exact"] == 1.0:
        assert metrics["agree.prefix"] == 1.0
    assert "fp8.speedup" not in metrics  # CPU: FP8 weights are de-quantized to run, a ratio means nothing
    # Quantization changed the weights, but only a little.
    assert 0.0 < metrics["logits.max_abs_diff"] < 1.0
    assert metrics["ref.tokens_per_s"] > 0 and metrics["fp8.tokens_per_s"] > 0
