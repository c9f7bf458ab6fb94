"""`scancel` of a running step's job on the real local Slurm cluster (scripts/slurm/start.sh).

Slurm sends SIGTERM and gives the job KillWait seconds before SIGKILL; submitit's own handler only
logs SIGTERM, so a step that finished within them used to commit although its job was cancelled.
Here the cancelled step must stop at once and never be committed, and `hala-exp-status` must name
it as cancelled with its cause, attribute its dependents to it, print the command that resumes,
and quote its log without progress bars; that command submits the stopped steps again.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hala_exp.launch.queue import partition_limits
from hala_exp.launch.status import format_report, run_status, wait
from hala_exp.pipeline.store import Store

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]
WAIT_S = 900
CANCELLED = "build.teacher"
DEPENDENTS = ["quantize_teacher", "translate_bootstrap"]  # the second through the first


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala_exp.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def cancelled(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("scancel")
    run_dir, store = root / "run", root / "store"
    overrides = ["cluster=local_slurm", "targets=[translate_bootstrap]", "teacher.tiny.warmup_steps=20",
                 "logger=none", f"store={store}"]
    proc = hala(*overrides, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = json.loads((run_dir / "jobs.json").read_text())["steps"][CANCELLED]
    assert set(DEPENDENTS) <= set(json.loads((run_dir / "jobs.json").read_text())["steps"])
    log = Path(job["stderr"])
    deadline = time.time() + WAIT_S
    # cancelled once the job runs the step itself (its first line is logged before the stage starts)
    while not (log.is_file() and f"step {CANCELLED} key" in log.read_text()):
        assert time.time() < deadline, format_report(run_status(run_dir))
        time.sleep(0.2)
    time.sleep(2)  # into the stage (its imports alone take longer), well before its ~10 s of work end
    subprocess.run(["scancel", job["job_id"]], check=True)
    report = wait(run_dir, WAIT_S, poll_s=2)
    status = subprocess.run([sys.executable, "-m", "hala_exp.launch.status", str(run_dir)], capture_output=True,
                            text=True, check=False)
    return {"root": root, "run_dir": run_dir, "store": store, "job": job, "report": report, "status": status,
            "overrides": overrides}


def test_a_cancelled_step_stops_at_once_and_is_never_committed(cancelled):
    store, job = Store(cancelled["store"]), cancelled["job"]
    assert cancelled["report"]["done"], format_report(cancelled["report"])
    time.sleep(8)  # past KillWait (5 s here): a step that ignored SIGTERM would have committed by now
    assert store.record(CANCELLED, job["key"]) is None
    assert not list(store.tmp.glob(f"{CANCELLED}-*"))  # its work directory removed
    log = Path(job["stderr"]).read_text()
    assert f"step {CANCELLED}: received SIGTERM; stopping now" in log, log[-3000:]
    assert f"step {CANCELLED} stopped by SIGTERM: not committed" in log
    assert "Bypassing signal SIGTERM" not in log  # submitit's handler was not the one that ran


def test_status_names_the_cancelled_step_its_cause_and_its_dependents(cancelled):
    report, out = cancelled["report"], cancelled["status"].stdout
    steps = report["steps"]
    assert cancelled["status"].returncode == 1, out
    assert report["stopped"] == [CANCELLED] and steps[CANCELLED]["state"] == "cancelled"
    assert re.match(r"CANCELLED by \S+ \(uid \d+\) after \d\d:\d\d:\d\d", steps[CANCELLED]["cause"])
    for name in DEPENDENTS:
        assert steps[name]["state"] == "cancelled" and steps[name]["because"] == CANCELLED
        assert re.search(rf"cancelled\s+{re.escape(name)}\s+\d+\s+because {CANCELLED} cancelled", out), out
    assert report["affected"][CANCELLED] == DEPENDENTS
    assert f"{CANCELLED} cancelled: job {cancelled['job']['job_id']}, CANCELLED by " in out
    assert f"Because of it, cancelled or never run (2): {', '.join(DEPENDENTS)}" in out
    assert f"step {CANCELLED}: received SIGTERM" in out  # the end of its log
    for line in out.splitlines():  # no progress bars or progress markers in what it quotes
        assert "%|" not in line and "it/s]" not in line and "\x1e" not in line and "\r" not in line, line


def test_status_prints_the_command_that_resumes_and_it_resubmits_what_stopped(cancelled):
    out = cancelled["status"].stdout.splitlines()
    command = shlex.split(out[out.index(next(line for line in out if line.startswith("Stopped:"))) + 1])
    assert command[0] == "hala-exp" and command[1:] == cancelled["overrides"]
    again = cancelled["root"] / "again"
    proc = hala(*command[1:], f"hydra.run.dir={again}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = json.loads((again / "jobs.json").read_text())["steps"]
    try:
        assert {n for n, e in jobs.items() if e["state"] == "submitted"} == {CANCELLED, *DEPENDENTS}
        assert {n for n, e in jobs.items() if e["state"] == "complete"} == set(jobs) - {CANCELLED, *DEPENDENTS}
    finally:
        subprocess.run(["scancel", *[e["job_id"] for e in jobs.values() if e.get("job_id")]], check=False)


def test_a_step_committed_elsewhere_whose_job_was_cancelled_is_named_for_its_cancelled_dependents(cancelled):
    """Slurm's `afterok` follows the job, not the store: the dependents of a job cancelled while another
    process committed its step are cancelled all the same, and status must say why."""
    root, store = cancelled["root"], cancelled["store"]
    run_dir = root / "elsewhere"
    # every CPU taken: the jobs below wait
    cpus = str(partition_limits("debug").cpus_per_node)
    blocker = subprocess.run(["sbatch", "--parsable", "-c", cpus, "-o", str(root / "blocker.out"), "--wrap", "sleep 300"],
                             capture_output=True, text=True, check=True).stdout.strip().split(";")[0]
    try:
        proc = hala("cluster=local_slurm", "targets=[quantize_teacher]", "teacher.tiny.warmup_steps=20",
                    "logger=none", f"store={store}", f"hydra.run.dir={run_dir}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        jobs = json.loads((run_dir / "jobs.json").read_text())["steps"]
        assert {n for n, e in jobs.items() if e["state"] == "submitted"} == {CANCELLED, "quantize_teacher"}
        local = hala("cluster=local", "targets=[build.teacher]", "teacher.tiny.warmup_steps=20", "logger=none",
                     f"store={store}", f"hydra.run.dir={root / 'local'}")
        assert local.returncode == 0, local.stderr[-3000:]  # the same key, committed outside Slurm
        subprocess.run(["scancel", jobs[CANCELLED]["job_id"]], check=True)
        report = wait(run_dir, WAIT_S, poll_s=2)
    finally:
        subprocess.run(["scancel", blocker], check=False)
    steps = report["steps"]
    assert steps[CANCELLED]["state"] == "complete" and steps["quantize_teacher"]["state"] == "cancelled"
    assert report["stopped"] == [CANCELLED] and report["affected"][CANCELLED] == ["quantize_teacher"]
    text = format_report(report)
    assert f"because {CANCELLED}'s job ended CANCELLED" in text
    assert "its output is in the store, but its job ended CANCELLED by" in text
