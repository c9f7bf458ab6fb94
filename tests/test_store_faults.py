"""Damaged store entries through the real CLI: plan names the broken file, a run redoes exactly that
step (its entry kept under .broken/), and the step reading it works on the redone output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test trains and merges a tiny model (15-30 s apiece)

# The cheapest graph with a model handed from step to step: build -> sft (16 bundled pairs) -> merge.
TINY = ["experiment=smollm2_merge", "model=tiny", "logger=none", "targets=[merge]",
        "data.translated.tatoeba_en_ar.rows=16"]


def hala(store: Path, run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala_exp", f"store={store}", f"hydra.run.dir={run_dir}",
                           *TINY, *overrides], capture_output=True, text=True, timeout=600)


MODEL_STEPS = ("build.student_base", "sft", "merge")


def run(store: Path, run_dir: Path, *overrides: str) -> tuple[dict[str, str], str]:
    """({model step: "ran" | "reused"}, console) of a run that must succeed; any other step of the
    graph (data steps) had nothing damaged and is reused."""
    proc = hala(store, run_dir, *overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    statuses = {n: s["status"] for n, s in results["stages"].items()}
    others = {n: s for n, s in statuses.items() if n not in MODEL_STEPS}
    assert set(others.values()) <= {"reused"} or set(statuses.values()) == {"ran"}, others
    return {n: statuses[n] for n in MODEL_STEPS}, proc.stdout + proc.stderr


def plan(store: Path, run_dir: Path, *overrides: str) -> tuple[dict[str, str], str]:
    """({step: status}, output) of `plan=true`."""
    proc = hala(store, run_dir, "plan=true", *overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-2] in MODEL_STEPS:
            rows[parts[-2]] = " ".join(parts[:-2])
    return rows, proc.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A store holding build.student_base, sft and merge (t = 0.5), made once."""
    root = tmp_path_factory.mktemp("faults")
    statuses, _ = run(root / "store", root / "run0")
    assert set(statuses.values()) == {"ran"}
    return root / "store"


@pytest.fixture
def store(built, tmp_path) -> Path:
    """A copy of the built store for one test to damage."""
    shutil.copytree(built, tmp_path / "store")
    return tmp_path / "store"


def only(store: Path, stage: str) -> Path:
    (entry,) = (store / stage).iterdir()
    return entry


def broken_entries(store: Path) -> list[Path]:
    return sorted((store / ".broken").iterdir()) if (store / ".broken").is_dir() else []


def test_truncated_model_shows_broken_in_plan_and_is_redone_before_the_merge_reads_it(store, tmp_path):
    sft = only(store, "sft")
    model = sft / "model" / "model.safetensors"
    size = model.stat().st_size
    with open(model, "r+b") as f:
        f.truncate(1000)
    rows, out = plan(store, tmp_path / "plan", "merge.t=0.3")
    assert rows == {"build.student_base": "reused", "sft": "run (broken: model/model.safetensors)", "merge": "run"}
    assert f"{model}: 1,000 bytes, expected {size:,} bytes" in out
    statuses, console = run(store, tmp_path / "run", "merge.t=0.3")
    assert statuses == {"build.student_base": "reused", "sft": "ran", "merge": "ran"}
    assert "broken  sft" in console and "model/model.safetensors: 1,000 bytes" in console
    assert model.stat().st_size == size  # redone in place
    (aside,) = broken_entries(store)
    assert aside.name.startswith(f"sft-{sft.name}-") and (aside / "model" / "model.safetensors").stat().st_size == 1000
    assert str(model) in (aside / "broken.txt").read_text()
    assert "is broken" in (tmp_path / "run" / "cli.log").read_text()
    assert set(run(store, tmp_path / "again", "merge.t=0.3")[0].values()) == {"reused"}


def test_deleted_file_redoes_only_its_step_and_the_step_that_reads_it_runs(store, tmp_path):
    base = only(store, "build.student_base")
    (base / "model" / "model.safetensors").unlink()
    rows, out = plan(store, tmp_path / "plan", "merge.t=0.7")
    assert rows == {"build.student_base": "run (broken: model/model.safetensors)", "sft": "reused", "merge": "run"}
    assert f"{base / 'model' / 'model.safetensors'}: missing" in out
    statuses, _ = run(store, tmp_path / "run", "merge.t=0.7")
    assert statuses == {"build.student_base": "ran", "sft": "reused", "merge": "ran"}  # sft's key is unchanged
    assert (base / "model" / "model.safetensors").is_file() and len(broken_entries(store)) == 1


def test_garbage_record_is_named_set_aside_and_its_step_redone(store, tmp_path):
    sft = only(store, "sft")
    (sft / "record.json").write_text("{\"metrics\": {\"train_loss\": 6.8", encoding="utf-8")
    rows, out = plan(store, tmp_path / "plan")
    assert rows == {"build.student_base": "reused", "sft": "run (broken: record.json)", "merge": "reused"}
    assert f"{sft / 'record.json'}: not valid JSON" in out and "Traceback" not in out
    statuses, console = run(store, tmp_path / "run")
    assert statuses == {"build.student_base": "reused", "sft": "ran", "merge": "reused"}
    assert "JSONDecodeError" not in console and "broken  sft" in console
    assert json.loads((sft / "record.json").read_text())["metrics"]["train_loss"] > 0
    (aside,) = broken_entries(store)
    assert (aside / "record.json").read_text().startswith("{\"metrics\": {\"train_loss\": 6.8")


def test_same_size_change_is_found_by_verify_and_by_a_run_that_reads_the_output(store, tmp_path):
    sft = only(store, "sft")
    model = sft / "model" / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the weights: the header still parses
    model.write_bytes(bytes(data))
    rows, _ = plan(store, tmp_path / "plan", "merge.t=0.4")
    assert rows["sft"] == "reused"  # sizes alone cannot see it
    proc = subprocess.run([sys.executable, "-m", "hala_exp.verify", str(store)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"BROKEN  sft/{sft.name}  {model}: content changed: xxh3_128" in proc.stdout
    assert " ok, 1 broken, 0 legacy" in proc.stdout.splitlines()[-1]
    assert sft.exists()  # verify reports; the run below sets it aside
    statuses, console = run(store, tmp_path / "run", "merge.t=0.4")  # merge reads sft: hashed first
    assert statuses == {"build.student_base": "reused", "sft": "ran", "merge": "ran"}
    assert "content changed" in console and len(broken_entries(store)) == 1
    proc = subprocess.run([sys.executable, "-m", "hala_exp.verify", str(tmp_path / "run")], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and " ok, 0 broken, 0 legacy" in proc.stdout, proc.stdout


def test_size_mode_reuses_a_same_size_change(store, tmp_path):
    model = only(store, "sft") / "model" / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    statuses, _ = run(store, tmp_path / "run", "merge.t=0.4", "store_verify=size")
    assert statuses == {"build.student_base": "reused", "sft": "reused", "merge": "ran"}
    assert broken_entries(store) == []
