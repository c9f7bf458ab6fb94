"""`hala-exp experiment=allam_tiny` through the real CLI: every stage, real content, reuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LEAN = ["experiment=allam_tiny", "eval.lighteval.max_samples=8", "allam.cpt.max_steps=6", "allam.cpt.tokens=6000",
        "train.max_steps=4", "dpo.max_steps=4"]


def run(store: Path, run_dir: Path, *overrides: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "hala_exp", f"store={store}", f"hydra.run.dir={run_dir}", *LEAN,
                           *overrides], check=False, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    results = json.loads((run_dir / "results.json").read_text())
    results["stdout"] = proc.stdout
    return results


def test_allam_tiny_runs_every_stage_then_reuses_them(tmp_path):
    results = run(tmp_path / "store", tmp_path / "run1")
    stages = results["stages"]
    assert {n for n in stages if not n.startswith("source.")} == {
        "build.student_base", "fertility", "expand_vocab", "cpt", "sft", "dpo",
        "evaluate.allam_base", "evaluate.allam_cpt", "evaluate.allam_sft", "evaluate.allam_dpo"}
    assert {n for n in stages if n.startswith("source.")} == {  # every text source read once
        "source.fertility.arabic", "source.fertility.english", "source.fertility.code", "source.expand.corpus",
        "source.cpt.english.tatoeba_en", "source.cpt.heldout.arabic", "source.cpt.heldout.english",
        "source.sft.orca", "source.sft.tatoeba_en_ar", "source.preferences"}
    assert all(s["status"] == "ran" for s in stages.values())
    m = results["metrics"]
    assert m["fertility.base.arabic.tokens_per_word"] > 1.0
    assert m["expand_vocab.fertility.arabic.after"] < m["expand_vocab.fertility.arabic.before"]
    assert m["expand_vocab.fertility.english.after"] == m["expand_vocab.fertility.english.before"]
    assert m["cpt.mixture.share.arabic"] == pytest.approx(0.45, abs=0.02) and m["cpt.steps"] == 6
    assert m["cpt.heldout.arabic.loss"] < m["cpt.heldout.arabic.loss_before"]
    assert m["dpo.margin_after"] > m["dpo.margin_before"]
    for system in ("allam_base", "allam_cpt", "allam_sft", "allam_dpo"):
        assert 0 <= m[f"evaluate.{system}.arabic_mmlu_sample.acc_norm"] <= 1
    d = {n: Path(s["dir"]) for n, s in stages.items()}
    assert (d["fertility"] / "fertility.png").stat().st_size > 1000
    assert "| base | arabic |" in (d["fertility"] / "fertility.md").read_text()
    curve = [json.loads(line) for line in (d["cpt"] / "curve.jsonl").read_text().splitlines()]
    assert len(curve) == 6 and all(r["grad_norm"] > 0 for r in curve)
    for step in ("expand_vocab", "cpt", "sft", "dpo"):
        assert (d[step] / "model" / "config.json").is_file()
    assert "ALLaM studies" in results["stdout"]
    again = run(tmp_path / "store", tmp_path / "run2")
    assert all(s["status"] == "reused" for s in again["stages"].values())
