"""One runner per step key: leases wait for a live holder, take over a gone one, and two runs on
one store compute each step once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hala_exp.pipeline.lease import Lease, held


def test_a_second_lease_waits_for_the_first_and_then_holds_it(tmp_path):
    first = Lease(tmp_path, "judge", "k1", heartbeat_s=0.1)
    assert first.acquire()
    got: list[float] = []
    second = Lease(tmp_path, "judge", "k1", poll_s=0.05)
    t = threading.Thread(target=lambda: got.append(time.monotonic()) if second.acquire() else None)
    started = time.monotonic()
    t.start()
    time.sleep(0.5)
    assert not got  # still waiting: the holder is alive and beating
    first.release()
    t.join(timeout=5)
    assert got and got[0] - started >= 0.5
    assert json.loads(second.path.read_text())["id"] == second.owner["id"]
    second.release()
    assert not second.path.exists()


def test_a_waiter_stops_waiting_once_the_holder_completed_the_step(tmp_path):
    first = Lease(tmp_path, "sft", "k", heartbeat_s=0.1)
    assert first.acquire()
    flag = tmp_path / "committed"
    threading.Timer(0.3, flag.touch).start()
    seen: list[dict] = []
    with held(tmp_path, "sft", "k", done=flag.exists, on_wait=seen.append) as lease:
        assert lease is None  # nothing to run: reuse what the holder wrote
    assert seen[0]["pid"] == os.getpid() and first.path.exists()  # the holder's lease is untouched
    first.release()


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    lease = Lease(tmp_path, "judge", "k")
    lease.path.parent.mkdir(parents=True)
    lease.path.write_text(json.dumps({"id": "old", "host": lease.owner["host"], "pid": int(dead.stdout)}))
    started = time.monotonic()
    assert lease.acquire()
    assert time.monotonic() - started < 2 and json.loads(lease.path.read_text())["id"] == lease.owner["id"]
    lease.release()


def test_a_silent_lease_of_another_host_is_taken_over_after_stale_s_but_a_beating_one_is_not(tmp_path):
    holder = Lease(tmp_path, "merge", "k", heartbeat_s=0.1)
    holder.owner["host"] = "gpu-node-07"  # another machine: its pid means nothing here
    assert holder.acquire()
    waiter = Lease(tmp_path, "merge", "k", stale_s=0.6, heartbeat_s=0.1, poll_s=0.05)
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(waiter.acquire()))
    t.start()
    time.sleep(1.5)
    assert not result  # the heartbeat keeps it live, however long the waiter waits
    holder._stop.set()  # the holder's machine goes silent (a crashed node), the file stays
    holder._beat.join()
    t.join(timeout=5)
    assert result == [True] and json.loads(waiter.path.read_text())["id"] == waiter.owner["id"]
    waiter.release()


def test_an_earlier_attempt_of_the_same_slurm_job_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    lease = Lease(tmp_path, "sft", "k")
    lease.path.parent.mkdir(parents=True)
    lease.path.write_text(json.dumps({"id": "attempt1", "host": "gpu-node-01", "pid": 1, "job": "4242"}))
    assert lease.acquire()
    lease.release()


def _waits_for(holder: dict, waiter: Lease, seconds: float = 0.6) -> bool:
    """Whether `waiter` keeps waiting on a freshly written lease of `holder` for `seconds` (True),
    rather than taking it over (False). Never blocks longer: `done` turns true after `seconds`."""
    waiter.path.parent.mkdir(parents=True, exist_ok=True)
    waiter.path.write_text(json.dumps({"id": "other", **holder}))
    give_up = time.monotonic() + seconds
    took = waiter.acquire(done=lambda: time.monotonic() > give_up)
    if took:
        waiter.release()
    return not took


def test_a_live_holder_in_another_slurm_job_is_waited_for(tmp_path, monkeypatch):
    """Only a requeue of the same job may take its own earlier attempt's lease: two jobs must not
    both compute one step, whether the waiter is in another job or in none."""
    holder = {"host": socket.gethostname() + "-elsewhere", "pid": os.getppid(), "job": "1111"}
    monkeypatch.setenv("SLURM_JOB_ID", "2222")
    assert _waits_for(holder, Lease(tmp_path, "sft", "k", poll_s=0.05))
    monkeypatch.delenv("SLURM_JOB_ID")
    assert _waits_for(holder, Lease(tmp_path, "sft", "k", poll_s=0.05))
    monkeypatch.setenv("SLURM_JOB_ID", "1111")  # the same job again: its requeue takes over at once
    assert not _waits_for(holder, Lease(tmp_path, "sft", "k", poll_s=0.05))


def test_a_pid_that_is_dead_here_means_nothing_on_another_host(tmp_path):
    """The dead-process rule holds on the holder's own host only: another machine's live process
    may have a pid that no process here has."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    waiter = Lease(tmp_path, "judge", "k", poll_s=0.05)
    other = {"host": waiter.owner["host"] + "-elsewhere", "pid": int(dead.stdout), "job": None}
    assert _waits_for(other, waiter)
    assert not _waits_for({**other, "host": waiter.owner["host"]}, Lease(tmp_path, "judge", "k", poll_s=0.05))


def run(store: Path, run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "hala_exp.cli", f"store={store}", "targets=[judge]",
                             f"hydra.run.dir={run_dir}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


@pytest.mark.slow
def test_two_runs_started_together_compute_each_step_once(tmp_path):
    store = tmp_path / "store"
    a = run(store, tmp_path / "a")
    time.sleep(0.3)
    b = run(store, tmp_path / "b")
    outs = [p.communicate(timeout=900) for p in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, [o[1][-2000:] for o in outs]
    ra = json.loads((tmp_path / "a" / "results.json").read_text())
    rb = json.loads((tmp_path / "b" / "results.json").read_text())
    assert ra["stages"].keys() == rb["stages"].keys()
    for name in ra["stages"]:
        statuses = sorted([ra["stages"][name]["status"], rb["stages"][name]["status"]])
        assert statuses == ["ran", "reused"], (name, statuses)  # once, by one of the two
    assert ra["metrics"] == rb["metrics"]
    assert not list((store / ".leases").iterdir())  # every lease given back
    assert not (store / ".partial").exists() or not list((store / ".partial").iterdir())


def test_plan_names_a_step_another_process_is_running(tmp_path):
    from hala_exp.config import compose
    from hala_exp.pipeline.runner import plan_rows
    from hala_exp.plan.compiler import compile_plan

    cfg = compose([f"store={tmp_path}", "targets=[build.judge]"])
    row = next(r for r in plan_rows(compile_plan(cfg, explain=True)) if r["name"] == "build.judge")
    lease = Lease(tmp_path, "build.judge", row["key"], heartbeat_s=0.1)
    assert lease.acquire()
    try:
        row = next(r for r in plan_rows(compile_plan(cfg, explain=True)) if r["name"] == "build.judge")
        assert row["status"] == "run" and row["problem"].startswith(f"running now (pid {os.getpid()} on ")
    finally:
        lease.release()
    assert "problem" not in next(r for r in plan_rows(compile_plan(cfg, explain=True)) if r["name"] == "build.judge")
