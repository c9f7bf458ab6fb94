"""A generation step as a Slurm job array of workers plus a gather (the local cluster of scripts/slurm).

The teacher and the source snapshot are built once, locally, with one-worker baselines of the
translation; each test copies that store without the translation and submits only it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from hala_exp.json_files import read_jsonl
from hala_exp.launch.queue import LIVE
from hala_exp.launch.status import format_report, run_status, wait

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]
STEP = "translate_bootstrap"
SMALL = ["data.bootstrap.rows=16", "engine.shard_rows=4", "teacher.max_new_tokens=16"]
SLOW = ["data.bootstrap.rows=48", "engine.shard_rows=6", "teacher.max_new_tokens=96"]  # a kill lands mid-way
COMMON = [f"targets=[{STEP}]", "teacher.fp8=false"]


def cli(cluster: str, run_dir: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala_exp.cli", f"cluster={cluster}", *args,
                           f"store={store}", f"hydra.run.dir={run_dir}", f"logger.dir={run_dir / 'wb'}"],
                          capture_output=True, text=True, timeout=900, check=False)


def hala(cluster: str, run_dir: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    return cli(cluster, run_dir, store, *COMMON, *args)


def outputs(store: Path) -> dict[str, bytes]:
    (d,) = (store / STEP).iterdir()
    return {n: (d / n).read_bytes() for n in ("tuples.jsonl", "rejected.jsonl")}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict:
    """One store with the teacher, the snapshot and each config's one-worker translation (local)."""
    root = tmp_path_factory.mktemp("fanout")
    store = root / "store"
    expected = {}
    for name, args in (("small", SMALL), ("slow", SLOW)):
        proc = hala("local", root / f"run-{name}", store, *args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        expected[name] = outputs_of_run(root / f"run-{name}")
    return {"root": root, "store": store, "expected": expected}


def outputs_of_run(run_dir: Path) -> dict[str, bytes]:
    d = Path(json.loads((run_dir / "results.json").read_text())["stages"][STEP]["dir"])
    return {n: (d / n).read_bytes() for n in ("tuples.jsonl", "rejected.jsonl")}


def store_without_translation(base: dict, name: str) -> Path:
    dest = base["root"] / f"store-{name}"
    shutil.copytree(base["store"], dest, ignore=shutil.ignore_patterns(STEP, ".partial", ".leases", ".jobs", ".tmp"))
    return dest


def step_entry(run_dir: Path) -> dict:
    return json.loads((run_dir / "jobs.json").read_text())["steps"][STEP]


def sacct_times(job: str) -> dict[str, tuple[datetime, datetime]]:
    out = subprocess.run(["sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,Start,End,State"],
                         capture_output=True, text=True, check=True).stdout
    return {p[0]: (datetime.fromisoformat(p[1]), datetime.fromisoformat(p[2]))
            for p in (line.split("|") for line in out.splitlines()) if p[3].startswith("COMPLETED")}


def check_ids(store: Path, n: int) -> None:
    (d,) = (store / STEP).iterdir()
    ids = [r["id"] for f in ("tuples.jsonl", "rejected.jsonl") for r in read_jsonl(d / f)]
    assert len(ids) == n and len(set(ids)) == n  # every id once


def test_two_task_array_capped_at_one_matches_one_worker(base):
    store, run_dir = store_without_translation(base, "array"), base["root"] / "array"
    proc = hala("local_slurm", run_dir, store, *SMALL, f"resources.stages.{STEP}.workers=2",
                f"resources.stages.{STEP}.array_parallelism=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    e = step_entry(run_dir)
    assert e["state"] == "submitted" and e["workers"] == 2 and sorted(e["tasks"]) == ["0", "1"]
    array = e["tasks"]["0"].split("_")[0]
    assert e["tasks"]["1"] == f"{array}_1"  # one array, not two jobs
    script = next(Path(e["stdout"]).parent.glob("*_submission.sh")).read_text()
    assert f"--dependency=afterok:{array}_0:{array}_1" in script  # the gather waits for both
    report = wait(run_dir, 900)
    assert report["complete"], format_report(report)
    assert outputs(store) == base["expected"]["small"]  # byte for byte the one-worker output
    check_ids(store, 16)
    times = sacct_times(array)
    assert sorted(times) == [f"{array}_0", f"{array}_1"], times
    (s0, e0), (s1, e1) = sorted(times.values())
    assert e0 <= s1, f"array_parallelism=1, yet the tasks overlapped: {times}"


def test_a_killed_task_is_resubmitted_alone_and_nothing_is_lost_or_doubled(base):
    store, run_dir = store_without_translation(base, "kill"), base["root"] / "kill"
    fan = [f"resources.stages.{STEP}.workers=2"]
    proc = hala("local_slurm", run_dir, store, *SLOW, *fan)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = step_entry(run_dir)
    deadline = time.time() + 600
    shards = None
    while time.time() < deadline:  # kill worker 1 once it has committed its first shard
        found = list((store / ".partial").glob(f"{STEP}-*/shard-*.jsonl")) if (store / ".partial").exists() else []
        if any(int(p.name[6:11]) % 2 == 1 for p in found):
            shards = found[0].parent
            break
        time.sleep(0.05)
    assert shards is not None, "worker 1 committed no shard in time"
    subprocess.run(["scancel", first["tasks"]["1"]], check=True)
    assert not (shards / "worker-0001-of-0002.done").exists(), "worker 1 finished before it was killed"
    while time.time() < deadline and run_status(run_dir)["steps"][STEP]["state"] in {s.lower() for s in LIVE}:
        time.sleep(1)  # the gather can never run now: Slurm cancels it
    report = run_status(run_dir)
    assert report["steps"][STEP]["state"] == "cancelled", format_report(report)
    stopped = report["steps"][STEP]["workers_stopped"]
    assert list(stopped) == ["1"] and stopped["1"].startswith("CANCELLED"), stopped  # the task, not the gather
    assert "Worker 1: CANCELLED" in format_report(report)
    odd_done = sorted(int(p.name[6:11]) for p in shards.glob("shard-*.jsonl") if int(p.name[6:11]) % 2)
    assert 1 <= len(odd_done) < 4, odd_done  # killed mid-way

    again = hala("local_slurm", run_dir / "again", store, *SLOW, *fan)
    assert again.returncode == 0, again.stderr[-3000:]
    second = step_entry(run_dir / "again")
    assert second["state"] == "submitted" and second["tasks"]["1"] != first["tasks"]["1"]
    assert second["tasks"].get("0", first["tasks"]["0"]) == first["tasks"]["0"]  # worker 0 not submitted again
    # the status of a running fanned-out step counts its shards
    now = run_status(run_dir / "again")
    live = now["steps"][STEP]
    assert live["state"] == "complete" or live.get("shards", "").endswith("/8"), live
    if live["state"] != "complete":  # and each worker's: worker 1 resumes with some of its 4 done
        assert live["worker_shards"]["1"]["shards"].endswith("/4"), live
        assert "worker 1: shards" in format_report(now), live
    report = wait(run_dir / "again", 900)
    assert report["complete"], format_report(report)
    logs = [p.read_text() for p in (run_dir / "again" / "slurm").glob("*/*_log.err")]
    ran = [line for text in logs for line in text.splitlines() if "worker 1 of 2 of" in line and "worker finished" in line]
    assert len(ran) == 1 and f"ran {4 - len(odd_done)} of its shards" in ran[0], ran  # finished ones kept
    assert outputs(store) == base["expected"]["slow"]
    check_ids(store, 48)


def test_a_lighteval_suite_over_a_two_task_array_gives_the_single_job_scores(tmp_path):
    """The smoke suite's six subsets as two groups, one per array task, gathered by the step's job."""
    step = "evaluate.student_base"
    args = ["eval=smoke", "eval.lighteval.max_samples=4", f"targets=[{step}]"]
    local = cli("local", tmp_path / "local", tmp_path / "store-local", *args)
    assert local.returncode == 0, local.stderr[-3000:]
    single = json.loads((tmp_path / "local" / "results.json").read_text())["stages"][step]

    run_dir = tmp_path / "array"
    proc = cli("local_slurm", run_dir, tmp_path / "store-array", *args,
               "resources.stages.evaluate_lighteval.workers=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    e = json.loads((run_dir / "jobs.json").read_text())["steps"][step]
    assert e["workers"] == 2 and sorted(e["tasks"]) == ["0", "1"]
    report = wait(run_dir, 900)
    assert report["complete"], format_report(report)
    (out,) = (tmp_path / "store-array" / step).iterdir()
    assert out.name == single["key"]  # the workers are not part of the key
    record = json.loads((out / "record.json").read_text())
    expected = json.loads((Path(single["dir"]) / "record.json").read_text())
    assert record["metrics"] == expected["metrics"] and record["metrics"]["smoke.average"] >= 0
    assert json.loads((out / "metrics.json").read_text())["groups"] == 2
