"""Stage 7 (merge): mergekit's slerp output checked tensor by tensor against the formula."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from hala_exp.config import compose
from hala_exp.stages import merge


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def slerp(t: float, a: torch.Tensor, b: torch.Tensor, dot_threshold: float = 0.9995) -> torch.Tensor:
    """Slerp of two whole tensors as vectors (mergekit's formula): interpolate along the great circle
    between their directions, coefficients applied to the unnormalised tensors; when the directions are
    (anti)collinear, |cos| > 0.9995, mergekit falls back to plain linear interpolation."""
    x, y = a.flatten().double(), b.flatten().double()
    nx = x.norm() if x.norm() > 1e-8 else torch.tensor(1.0, dtype=x.dtype)
    ny = y.norm() if y.norm() > 1e-8 else torch.tensor(1.0, dtype=y.dtype)
    dot = torch.clamp((x / nx) @ (y / ny), -1.0, 1.0)
    if dot.abs() > dot_threshold:
        out = (1 - t) * x + t * y
    else:
        theta = torch.acos(dot)
        out = (torch.sin((1 - t) * theta) * x + torch.sin(t * theta) * y) / torch.sin(theta)
    return out.reshape(a.shape).float()


def _with_scaled_norms(src: Path, dst: Path, factor: float) -> Path:
    """A copy of `src` whose norm weights are scaled: collinear with the original's, so slerp must lerp."""
    shutil.copytree(src, dst)
    weights = _weights(dst)
    for name in weights:
        if "norm" in name:
            weights[name] = weights[name] * factor
    save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def _merge(tmp_path: Path, base: Path, tuned: Path, t: float) -> tuple[Path, dict[str, float]]:
    cfg = compose(["merge=slerp", f"merge.t={t}", "merge.dtype=float32"])
    out = tmp_path / f"t{t}"
    out.mkdir()
    metrics = merge.run(cfg, {"base": str(base), "tuned": str(tuned)}, out)
    return out, metrics


def test_slerp_matches_formula_and_loads(tmp_path, tiny_lfm2, tiny_lfm2_other):
    tuned = _with_scaled_norms(tiny_lfm2_other, tmp_path / "tuned", 1.5)
    out, metrics = _merge(tmp_path, tiny_lfm2, tuned, 0.3)
    a, b, m = _weights(tiny_lfm2), _weights(tuned), _weights(out / "model")
    assert set(m) == set(a) == set(b)
    assert metrics["t"] == pytest.approx(0.3)
    assert metrics["tensors"] == len(m)
    moved = 0
    for name in m:
        assert m[name].dtype == torch.float32, name
        expected = slerp(0.3, a[name], b[name])
        torch.testing.assert_close(m[name], expected, atol=1e-5, rtol=1e-5, msg=name)
        if not torch.equal(a[name], b[name]):
            moved += 1
            # Genuinely between the two, not a copy of either.
            assert not torch.allclose(m[name], a[name]) and not torch.allclose(m[name], b[name]), name
    assert moved > 0
    norm = "model.layers.0.ffn_norm.weight"  # ones vs 1.5 * ones: the collinear (lerp) branch
    torch.testing.assert_close(m[norm], 0.7 * a[norm] + 0.3 * b[norm], atol=1e-6, rtol=0)
    # The saved YAML is a valid mergekit config describing this merge.
    spec = yaml.safe_load((out / "mergekit.yaml").read_text())
    assert spec["merge_method"] == "slerp" and spec["parameters"]["t"] == pytest.approx(0.3)
    assert spec["base_model"] == str(tiny_lfm2.resolve()) and spec["dtype"] == "float32"
    assert [x["model"] for x in spec["models"]] == [str(tiny_lfm2.resolve()), str(tuned.resolve())]

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "model")
    base_tok = AutoTokenizer.from_pretrained(tiny_lfm2)
    assert len(tok) == len(base_tok) and tok.chat_template == base_tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    ids = tok.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    gen = model.generate(**ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids["input_ids"].shape[1]


@pytest.mark.parametrize("t", [0.0, 1.0])
def test_slerp_endpoints(tmp_path, tiny_lfm2, tiny_lfm2_other, t):
    out, _ = _merge(tmp_path, tiny_lfm2, tiny_lfm2_other, t)
    expected = _weights(tiny_lfm2 if t == 0.0 else tiny_lfm2_other)
    merged = _weights(out / "model")
    assert set(merged) == set(expected)
    for name, w in merged.items():
        torch.testing.assert_close(w, expected[name], atol=1e-6, rtol=0, msg=name)


def test_rejects_other_methods(tmp_path):
    cfg = compose(["merge=none"])
    with pytest.raises(ValueError, match="merge.method"):
        merge.run(cfg, {"base": "a", "tuned": "b"}, tmp_path)
