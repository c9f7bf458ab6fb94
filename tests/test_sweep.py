"""`hala-exp -m +sweep=slerp_t` on the tiny preset, then `hala-exp-table` on it: one real sweep, many checks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

T = [0.0, 0.25, 0.5, 0.75, 1.0]
PER_POINT = {"merge", "evaluate.student_merged"}  # downstream of merge.t: one run per point


def hala_exp(cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "hala_exp", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def wandb_runs(wandb_dir: Path) -> list[dict]:
    """Every offline run under wandb_dir, read back from its .wandb file with `wandb leet inspect`."""
    runs = []
    for d in sorted((wandb_dir / "wandb").glob("offline-run-*")):
        out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(d)],
                             capture_output=True, text=True, check=True).stdout
        records = [json.loads(line) for line in out.splitlines()]
        run = next(r["run"] for r in records if r["type"] == "run")
        summary = {}
        for r in records:
            if r["type"] == "summary":
                summary.update(r["summary"].get("update", {}))
        config = run["config"]["update"]
        runs.append({"dir": d, "id": run["run_id"], "group": run.get("run_group"), "job_type": run["job_type"],
                     "config": config, "summary": summary, "step": config.get("step.name")})
    return runs


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    common = [f"store={root / 'store'}", f"logger.dir={root / 'wb'}"]
    hala_exp(root, "-m", "+sweep=slerp_t", f"hydra.sweep.dir={root / 'sweep'}", *common)
    points = [json.loads((root / "sweep" / str(i) / "results.json").read_text()) for i in range(5)]
    runs = wandb_runs(root / "wb")
    return root, points, runs


def test_five_points_share_one_upstream(sweep):
    _, points, _ = sweep
    assert [p["metrics"]["merge.t"] for p in points] == T
    assert len({p["stages"]["merge"]["key"] for p in points}) == 5
    assert {n for n, s in points[0]["stages"].items() if s["status"] == "ran"} == set(points[0]["stages"])
    for p in points[1:]:
        assert {n for n, s in p["stages"].items() if s["status"] == "ran"} == PER_POINT


def test_five_offline_wandb_runs_per_downstream_stage_and_one_upstream(sweep):
    _, points, runs = sweep
    by_step: dict[str, list[dict]] = {}
    for r in runs:
        by_step.setdefault(r["step"], []).append(r)
    assert set(by_step) == {n for n in points[0]["stages"] if not n.startswith("source.")}  # snapshots: no run
    for step, step_runs in by_step.items():
        assert len({r["id"] for r in step_runs}) == (5 if step in PER_POINT else 1), step
    assert {r["group"] for r in runs} == {"tiny-slerp_t"}
    assert sorted(r["config"]["merge.t"] for r in by_step["merge"]) == T
    assert {r["job_type"] for r in by_step["merge"]} == {"merge"}
    for r in runs:
        assert r["job_type"] == r["config"]["step.stage"]
        assert {"data.name", "model.name", "merge.t", "step.key"} <= set(r["config"])
    for p in points:  # results.json names the W&B run that produced each stage's output
        merged = p["stages"]["evaluate.student_merged"]
        run = next(r for r in by_step["evaluate.student_merged"] if r["id"] == merged["wandb_run_id"])
        assert run["job_type"] == "evaluate_lighteval" and run["config"]["step.key"] == merged["key"]
        assert run["summary"]["arabic_mmlu_sample.acc_norm"] == p["metrics"][
            "evaluate.student_merged.arabic_mmlu_sample.acc_norm"]


def test_table_has_one_row_per_t_with_the_run_records_numbers_and_a_plot(sweep):
    root, points, runs = sweep
    out = subprocess.run([sys.executable, "-m", "hala_exp.table", str(root / "sweep"), "--out", str(root / "table")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    md_rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "/sweep/" in line]
    assert len(md_rows) == 5
    rows = [r for r in csv.DictReader((root / "table" / "ablation.csv").open()) if r["row"] == "ours"]
    assert [float(r["merge.t"]) for r in rows] == T
    ids = {r["id"] for r in runs}
    for r, p in zip(rows, points):
        assert Path(r["run_dir"]) == root / "sweep" / str(T.index(float(r["merge.t"])))
        acc = p["metrics"]["evaluate.student_merged.arabic_mmlu_sample.acc_norm"] * 100
        assert float(r["arabic_mmlu_sample acc_norm (%)"]) == pytest.approx(acc, abs=0.005)
        assert float(r["average (%)"]) == pytest.approx(acc, abs=0.005)  # one task: the average is that task
        assert float(r["translator BLEU"]) == pytest.approx(p["metrics"]["evaluate.translator.translation.bleu"],
                                                            abs=0.005)
        assert r["wandb_run_id.evaluate.student_merged"] == p["stages"]["evaluate.student_merged"]["wandb_run_id"]
        assert r["wandb_run_id.evaluate.student_merged"] in ids
    png = (root / "table" / "ablation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert (root / "table" / "ablation.md").read_text().count("/sweep/") == 5


def test_a_sweep_run_again_reuses_every_point_and_overwrites_nothing(sweep):
    root, points, _ = sweep
    before = {p: p.read_bytes() for p in (root / "sweep").rglob("*") if p.is_file()}
    n_runs = len(list((root / "wb" / "wandb").glob("offline-run-*")))
    hala_exp(root, "-m", "+sweep=slerp_t", f"store={root / 'store'}", f"logger.dir={root / 'wb'}")
    (again,) = list((root / "outputs" / "multirun").iterdir())  # the default, time-stamped sweep dir
    for i in range(5):
        stages = json.loads((again / str(i) / "results.json").read_text())["stages"]
        assert {s["status"] for s in stages.values()} == {"reused"}
        assert stages["merge"]["key"] == points[i]["stages"]["merge"]["key"]
    assert {p: p.read_bytes() for p in (root / "sweep").rglob("*") if p.is_file()} == before
    assert len(list((root / "wb" / "wandb").glob("offline-run-*"))) == n_runs  # no new W&B run
