"""The ALLaM sweeps through the real CLI on the tiny preset, then `hala-exp-table` on their records:
`lang_ratio` gives a ratio-vs-score table, `embed_init` a mean-vs-random one; shared steps run once."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

LEAN = ["eval.lighteval.max_samples=8", "allam.cpt.max_steps=6", "allam.cpt.tokens=6000", "logger=none"]
LOSSES = ["--metric", "cpt.heldout.arabic.loss:min", "--metric", "cpt.heldout.english.loss:min"]


def sweep(root: Path, *overrides: str) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "hala_exp", "-m", *overrides, *LEAN, f"store={root / 'store'}",
                           f"hydra.sweep.dir={root / 'sweep'}"], capture_output=True, text=True, timeout=1800,
                          check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    points = sorted((root / "sweep").glob("[0-9]*"), key=lambda p: int(p.name))
    return [json.loads((p / "results.json").read_text()) for p in points]


def table(root: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    proc = subprocess.run([sys.executable, "-m", "hala_exp.table", str(root / "sweep"), "--out", str(root / "table"),
                           *args], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(root / "table" / "ablation.csv", encoding="utf-8") as f:
        return proc, [r for r in csv.DictReader(f) if r["row"] == "ours"]


def test_lang_ratio_sweep_gives_a_ratio_vs_score_table(tmp_path):
    results = sweep(tmp_path, "+sweep=lang_ratio", "allam.cpt.ratio=0.15,0.45,0.9")
    ran = [{n for n, s in r["stages"].items() if s["status"] == "ran"} for r in results]
    assert {n for n in ran[0] if n.startswith("source.")} == {n for n in results[0]["stages"] if n.startswith("source.")}
    ran = [{n for n in names if not n.startswith("source.")} for names in ran]  # sources: point 0 reads them
    assert ran[0] == {"build.student_base", "fertility", "expand_vocab", "cpt", "evaluate.allam_base",
                      "evaluate.allam_cpt"}
    assert ran[1] == ran[2] == {"cpt", "evaluate.allam_cpt"}  # everything before CPT is shared
    shares = [r["metrics"]["cpt.mixture.share.arabic"] for r in results]
    assert shares == sorted(shares) and shares[0] == pytest.approx(0.15, abs=0.03)
    assert shares[2] == pytest.approx(0.9, abs=0.03)

    proc, rows = table(tmp_path, "--system", "allam_cpt", "--translation-system", "none", *LOSSES)
    assert [float(r["allam.cpt.ratio"]) for r in rows] == [0.15, 0.45, 0.9]
    for row, res in zip(rows, results):
        m = res["metrics"]
        assert float(row["arabic_mmlu_sample acc_norm (%)"]) == pytest.approx(
            100 * m["evaluate.allam_cpt.arabic_mmlu_sample.acc_norm"], abs=0.006)
        assert float(row["cpt.heldout.arabic.loss (lower is better)"]) == pytest.approx(
            m["cpt.heldout.arabic.loss"], abs=0.006)
    ar = [results[i]["metrics"]["cpt.heldout.arabic.loss"] for i in range(3)]
    best = min(range(3), key=lambda i: ar[i])
    md_rows = [line for line in proc.stdout.splitlines() if line.startswith("| 0.")]
    assert len(md_rows) == 3 and f"**{ar[best]:.2f}**" in md_rows[best]  # lowest loss is the best cell
    assert (tmp_path / "table" / "ablation.png").stat().st_size > 1000


def test_embed_init_sweep_compares_mean_and_random_new_token_rows(tmp_path):
    results = sweep(tmp_path, "+sweep=embed_init")
    ran = [{n for n, s in r["stages"].items() if s["status"] == "ran"} for r in results]
    assert ran[1] == {"expand_vocab", "cpt", "evaluate.allam_cpt"}  # fertility and the base run once
    assert results[0]["stages"]["fertility"]["key"] == results[1]["stages"]["fertility"]["key"]
    before = [r["metrics"]["cpt.heldout.arabic.loss_before"] for r in results]
    assert before[0] != before[1]  # the initialisation is all that differs before training
    _, rows = table(tmp_path, "--system", "allam_cpt", "--translation-system", "none", *LOSSES,
                    "--metric", "cpt.heldout.arabic.loss_before:min")
    assert [r["allam.expand.init"] for r in rows] == ["mean", "random"]
    assert [float(r["cpt.heldout.arabic.loss_before (lower is better)"]) for r in rows] == pytest.approx(
        before, abs=0.006)


def test_an_unknown_table_metric_names_what_the_runs_report(tmp_path):
    results_dir = tmp_path / "run"
    results_dir.mkdir()
    (results_dir / "results.json").write_text(json.dumps(
        {"stages": {}, "metrics": {"cpt.heldout.arabic.loss": 2.0, "evaluate.allam_cpt.x.acc": 0.5}}))
    proc = subprocess.run([sys.executable, "-m", "hala_exp.table", str(results_dir), "--system", "allam_cpt",
                           "--metric", "cpt.heldout.arabc.loss:min"], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "--metric 'cpt.heldout.arabc.loss': no run reports it" in proc.stderr
    assert "cpt.heldout.arabic.loss" in proc.stderr and "Fix:" in proc.stderr
