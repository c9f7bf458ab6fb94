"""Each executed step is one offline W&B run, read back from its files; reuse and requeues add none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from planned import planned
from wandb_files import offline_runs, read_run

from hala_exp.config import compose
from hala_exp.pipeline.execute import execute, make_spec
from hala_exp.pipeline.store import Store
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys
from hala_exp.tracking import flatten, scrub, tracking_context

SECRET = "hf_TESTSECRETabcdef0123456789"


def flaky(cfg, inputs, out):
    """A stage that fails on its first attempt (a preempted job) and succeeds when requeued."""
    marker = Path(cfg.marker)
    if not marker.exists():
        marker.write_text("attempted")
        raise RuntimeError("preempted")
    (out / "done.txt").write_text("ok")
    return {"rows": 4.0}


@pytest.fixture
def tracked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("WANDB_API_KEY", SECRET[::-1])
    cfg = compose([f"store={tmp_path / 'store'}", f"logger.dir={tmp_path / 'wb'}", "merge.t=0.25"])
    ctx = tracking_context(cfg, overrides=["merge.t=0.25"])
    steps = build_graph(cfg)
    return cfg, ctx, steps, step_keys(steps), Store(cfg.store), tmp_path


def test_a_step_run_is_one_offline_wandb_run_with_flat_config_and_metrics(tracked):
    _, ctx, steps, keys, store, tmp = tracked
    step = next(s for s in steps if s.name == "build.student_base")
    record, ran = execute(make_spec(step, keys, store, ctx))
    assert ran
    (run_dir,) = offline_runs(tmp / "wb")
    run = read_run(run_dir)
    assert run["state"] == "finished" and run["project"] == "hala-exp"
    assert run["group"] == "tiny" and run["job_type"] == "build_model"
    assert run["name"] == "tiny build.student_base [merge.t=0.25]"
    config = run["config"]
    assert config["merge.t"] == 0.25 and config["data.name"] == "tiny" and config["model.name"] == "tiny-lfm2"
    assert config["step.key"] == keys[step.name] and config["data.corpus.orca.rows"] == 48
    assert run["summary"]["parameters"] == record["metrics"]["parameters"] > 0
    assert run["summary"]["timing/seconds"] == pytest.approx(record["seconds"])
    stage_dir = store.path(step.name, keys[step.name])
    kept = json.loads((stage_dir / "tracking.json").read_text())
    assert kept["run_id"] == run["run_id"] == record["tracking"]["run_id"] == run_dir.name.rsplit("-", 1)[1]

    again, ran = execute(make_spec(step, keys, store, ctx))  # complete: reused, no second run
    assert not ran and again["tracking"]["run_id"] == run["run_id"]
    assert offline_runs(tmp / "wb") == [run_dir]

    files = [p for root in (tmp / "wb", tmp / "store") for p in root.rglob("*") if p.is_file()]
    assert files and not [p for p in files if SECRET.encode() in p.read_bytes() or
                          SECRET[::-1].encode() in p.read_bytes()]


def test_a_requeued_step_continues_the_same_wandb_run(tracked):
    _, ctx, _, _, store, tmp = tracked
    spec = {"name": "flaky", "stage": "flaky", "fn": "test_tracking:flaky", "version": 1, "key": "k0",
            "store": str(store.root), "config": {"marker": str(tmp / "marker")}, "inputs": {},
            "input_keys": {}, "tracking": ctx}
    with pytest.raises(RuntimeError, match="preempted"):
        execute(spec)
    assert store.record("flaky", "k0") is None
    record, ran = execute(spec)  # the requeued job
    assert ran and (store.path("flaky", "k0") / "done.txt").is_file()
    runs = offline_runs(tmp / "wb")
    assert len(runs) == 2  # two attempts, written offline; `wandb sync` merges them into one run
    first, second = (read_run(r) for r in runs)
    assert first["run_id"] == second["run_id"] == record["tracking"]["run_id"]
    assert first["exit_code"] == 1 and second["state"] == "finished"
    assert second["summary"]["throughput/rows_per_s"] > 0


def test_no_run_and_no_tracking_file_with_logger_none(tmp_path):
    p = planned(tmp_path, "logger=none")
    assert tracking_context(p.cfg) is None
    record, _ = execute(p.spec("build.student_base"))
    assert "tracking" not in record
    assert not (p.store.path("build.student_base", p.keys["build.student_base"]) / "tracking.json").exists()


def test_flatten_and_scrub(monkeypatch):
    monkeypatch.setenv("MY_API_KEY", SECRET)
    flat = flatten({"merge": {"t": 0.5}, "data": {"corpus": {}}, "logger": {"hf_token": "x"},
                    "eval": {"prompt": f"use {SECRET} here", "tasks": ["a", "b"]}})
    assert flat == {"merge.t": 0.5, "data.corpus": {}, "logger.hf_token": "x",
                    "eval.prompt": f"use {SECRET} here", "eval.tasks": ["a", "b"]}
    clean = scrub(flat)
    assert "logger.hf_token" not in clean and SECRET not in json.dumps(clean)
    assert clean["merge.t"] == 0.5
