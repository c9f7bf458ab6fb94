"""The pipeline through a real Slurm cluster (the local one of scripts/slurm/start.sh).

One 3-point `merge.t` sweep runs the tiny pipeline end to end: SFT is one job shared by the three
points, merge and evaluate run three times. The other tests reuse its store, so only what they
change runs: an SFT job interrupted with USR2 that requeues and resumes, a failing stage whose
dependents are cancelled and reported, requests the partition can never satisfy.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from wandb_files import read_run

from hala_exp.launch.queue import LIVE
from hala_exp.launch.status import format_report, run_status, wait
from hala_exp.pipeline.store import Store

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]
WAIT_S = 1800


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala_exp.cli", "cluster=local_slurm", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def jobs_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "jobs.json").read_text())["steps"]


def sacct(job_ids: list[str], settle_s: float = 120) -> list[tuple[str, str, str]]:
    """(job id, job name, state) of every run of these jobs, requeued runs included, once the jobs
    have ended (a job's output is committed a moment before Slurm records it as ended)."""
    deadline = time.time() + settle_s
    while True:
        out = subprocess.run(["sacct", "-n", "-P", "-X", "-D", "-j", ",".join(job_ids), "-o",
                              "JobID,JobName,State"], capture_output=True, text=True, check=True).stdout
        runs = [tuple(line.split("|")) for line in out.splitlines() if line]
        if time.time() > deadline or not any(state.split()[0] in LIVE - {"REQUEUED"} for *_, state in runs):
            return runs
        time.sleep(2)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    store = root / "store"
    started = time.time()
    proc = hala("-m", "merge.t=0.25,0.5,0.75", f"store={store}", f"hydra.sweep.dir={root / 'sweep'}",
                f"logger.dir={root / 'wb'}")
    submit_s = time.time() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    points = sorted((root / "sweep").glob("[0-9]"), key=lambda p: int(p.name))
    reports = [wait(p, WAIT_S) for p in points]
    for r in reports:
        assert r["complete"], format_report(r)
    return {"root": root, "store": store, "points": points, "reports": reports, "submit_s": submit_s,
            "stdout": proc.stdout}


def test_sweep_runs_the_pipeline_end_to_end_through_slurm(sweep):
    assert len(sweep["points"]) == 3
    assert sweep["submit_s"] < 120  # returns once queued, long before the ~minutes of compute
    merged = []
    for point in sweep["points"]:
        results = json.loads((point / "results.json").read_text())
        stages = results["stages"]
        assert len(stages) == 24 and {s["status"] for n, s in stages.items() if not n.startswith("source.")} == {"ran"}
        # a source snapshot takes a second: a later point can find it done by an earlier one's job
        assert {s["status"] for n, s in stages.items() if n.startswith("source.")} <= {"ran", "reused"}
        assert results["metrics"]["judge.accept_rate"] >= 0
        assert "evaluate.translator.translation.bleu" in results["metrics"]
        merged.append(results["stages"]["merge"]["key"])
        t = json.loads((Path(results["stages"]["merge"]["dir"]) / "record.json").read_text())["config"]
        assert t["merge"]["t"] in (0.25, 0.5, 0.75)
    assert len(set(merged)) == 3


def test_each_slurm_job_is_one_offline_wandb_run_of_its_sweep_group(sweep):
    ids = {}
    for point in sweep["points"]:
        for name, stage in json.loads((point / "results.json").read_text())["stages"].items():
            if not name.startswith("source."):  # snapshots open no W&B run
                ids.setdefault(name, set()).add(stage["wandb_run_id"])
    assert all(len(v) == 1 for n, v in ids.items() if n not in ("merge", "evaluate.student_merged"))
    assert len(ids["merge"]) == len(ids["evaluate.student_merged"]) == 3
    runs = {p.name.rsplit("-", 1)[1]: p for p in (sweep["root"] / "wb" / "wandb").glob("offline-run-*")}
    # shared steps once; the 5 source snapshots open no W&B run
    assert set(runs) == set().union(*ids.values()) and len(runs) == 19 + 2 * 2
    run = read_run(runs[next(iter(ids["merge"]))])
    assert run["job_type"] == "merge" and run["group"] == "tiny-sweep" and run["state"] == "finished"
    assert run["config"]["merge.t"] in (0.25, 0.5, 0.75) and run["summary"]["timing/seconds"] > 0


def test_shared_sft_is_one_job_merge_and_evaluate_run_per_point(sweep):
    jobs = [jobs_of(p) for p in sweep["points"]]
    assert [j["sft"]["state"] for j in jobs] == ["submitted", "queued", "queued"]
    sft_id = jobs[0]["sft"]["job_id"]
    assert {j["sft"]["job_id"] for j in jobs} == {sft_id}
    for j in jobs:  # every point's merge waits on that one SFT job
        script = Path(j["merge"]["stdout"]).parent.glob("*_submission.sh")
        assert "--dependency=afterok:" in (text := next(script).read_text()) and sft_id in text
    ids = sorted({e["job_id"] for j in jobs for e in j.values() if e.get("job_id")}, key=int)
    runs = sacct(ids)
    assert all(state == "COMPLETED" for _, _, state in runs), runs
    per_stage = Counter(name.split(".")[1] if not name.startswith("hala.evaluate") else
                        ".".join(name.split(".")[1:3]) for _, name, _ in runs)
    assert per_stage["sft"] == 1
    assert per_stage["merge"] == 3 and per_stage["evaluate.student_merged"] == 3
    assert per_stage["train_translator"] == 1 and per_stage["evaluate.student_sft"] == 1


def test_resubmitting_the_sweep_submits_nothing_and_overwrites_nothing(sweep):
    store = Store(sweep["store"])
    before = {p: p.stat().st_mtime_ns for p in sweep["store"].glob("*/*/record.json")}
    proc = hala("-m", "merge.t=0.25,0.5,0.75", f"store={store.root}",
                f"hydra.sweep.dir={sweep['root'] / 'again'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("0 jobs submitted, 0 already queued, 24 complete") == 3
    for point in (sweep["root"] / "again").glob("[0-9]"):
        assert run_status(point)["complete"]
        assert {s["status"] for s in json.loads((point / "results.json").read_text())["stages"].values()} == {
            "reused"}
    assert {p: p.stat().st_mtime_ns for p in sweep["store"].glob("*/*/record.json")} == before


def test_usr2_in_the_middle_of_sft_requeues_resumes_and_finishes(sweep):
    run_dir = sweep["root"] / "requeue"
    # A slower SFT (32x the rows per step: the tiny model's micro-batch of 8, 32 accumulated in one
    # process) that only this test needs, so the signal always lands while it runs, even on a quiet
    # machine. model.global_batch reaches the student's SFT alone: nothing upstream runs again, not even
    # the base model built without warm-up (train.* would also retrain the translator, which shares it).
    proc = hala("model.global_batch=256", "merge=none", "eval.lighteval.tasks=[]", f"store={sweep['store']}",
                f"hydra.run.dir={run_dir}", f"logger.dir={run_dir / 'wb'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = jobs_of(run_dir)
    assert {n for n, e in jobs.items() if e["state"] == "submitted"} == {"sft"}
    sft = jobs["sft"]
    partial = Store(sweep["store"]).partial("sft", sft["key"])
    deadline = time.time() + WAIT_S
    while not list(partial.glob("checkpoint-*/trainer_state.json")):  # running and past a checkpoint
        assert time.time() < deadline, format_report(run_status(run_dir))
        assert run_status(run_dir)["steps"]["sft"]["state"] in ("pending", "running")
        time.sleep(1)
    subprocess.run(["scancel", "--signal=USR2", sft["job_id"]], check=True)
    report = wait(run_dir, WAIT_S)
    assert report["complete"], format_report(report)
    states = [state for _, _, state in sacct([sft["job_id"]])]
    assert states.count("REQUEUED") == 1 and states[-1] == "COMPLETED", states
    log = Path(sft["stderr"]).read_text()
    assert "requeuing (1 of 3)" in log
    resumed = re.search(r"resuming from .*checkpoint-(\d+)", log)
    assert resumed and 0 < int(resumed.group(1)) < 12
    record = json.loads((Path(sft["dir"]) / "record.json").read_text())
    assert record["metrics"]["steps"] == 12
    assert record["metrics"]["resumed_at_step"] == int(resumed.group(1))  # and train_loss is the whole run's
    assert not partial.exists()  # the checkpoints go once the output is committed
    attempts = sorted((run_dir / "wb" / "wandb").glob(f"offline-run-*-{record['tracking']['run_id']}"))
    assert len(attempts) == 2  # the requeued job continued the same W&B run


def test_a_stage_configured_for_another_environment_runs_there_inside_its_job(sweep, second_env):
    run_dir = sweep["root"] / "other_env"
    proc = hala("merge.t=0.9", f"+runtime.envs.other={second_env}",
                "runtime.stages.merge=other", f"store={sweep['store']}", f"hydra.run.dir={run_dir}",
                "logger=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = jobs_of(run_dir)
    assert {n for n, e in jobs.items() if e["state"] == "submitted"} == {"merge", "evaluate.student_merged"}
    report = wait(run_dir, WAIT_S)
    assert report["complete"], format_report(report)
    record = json.loads((Path(jobs["merge"]["dir"]) / "record.json").read_text())
    assert record["python"] == str(second_env) != sys.executable  # written by the other interpreter
    assert "ran merge" in (run_dir / "steps" / "merge.log").read_text()
    other = json.loads((Path(jobs["evaluate.student_merged"]["dir"]) / "record.json").read_text())
    assert other["python"] == sys.executable


def test_a_failing_stage_cancels_its_dependents_and_is_reported_with_its_log(sweep):
    run_dir = sweep["root"] / "failing"
    # A local model directory that holds no model: it passes the start-up checks (it exists), and the
    # SFT job fails when it loads it; merge depends on SFT.
    empty = sweep["root"] / "not-a-model"
    empty.mkdir(exist_ok=True)
    proc = hala(f"model.id={empty}", "eval.lighteval.tasks=[]", f"store={sweep['store']}",
                f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {n for n, e in jobs_of(run_dir).items() if e["state"] == "submitted"} == {"sft", "merge"}
    report = wait(run_dir, WAIT_S)
    steps = report["steps"]
    assert report["failed"] == ["sft"] and steps["sft"]["state"] == "failed"
    assert steps["merge"]["state"] == "cancelled" and steps["merge"]["because"] == "sft"
    assert steps["sft"]["cause"].startswith("FAILED with exit 1")
    # transformers finds no tokenizer files in the directory
    assert "load_tokenizer" in steps["sft"]["log_tail"] and "ValueError" in steps["sft"]["log_tail"]
    text = format_report(report)
    assert "Stopped: sft" in text and "because sft failed" in text and "Because of it, cancelled or never run (1): merge" in text
    status = subprocess.run([sys.executable, "-m", "hala_exp.launch.status", str(run_dir)],
                            capture_output=True, text=True, check=False)
    assert status.returncode == 1 and "Stopped: sft" in status.stdout


def test_a_job_refused_mid_submission_cancels_the_jobs_already_queued(tmp_path, monkeypatch):
    import submitit

    from hala_exp.config import compose
    from hala_exp.launch import LaunchError
    from hala_exp.launch import submit as submit_module
    from hala_exp.launch.registry import JobRegistry
    from hala_exp.plan.compiler import compile_plan

    real, calls = submit_module._executor, []

    def refuse_the_third(*args, **kwargs):  # Slurm refusing a job is the boundary faked here
        calls.append(args[2])
        if len(calls) == 3:
            raise submitit.core.utils.FailedJobError("sbatch: error: refused")
        return real(*args, **kwargs)

    monkeypatch.setattr(submit_module, "_executor", refuse_the_third)
    cfg = compose(["cluster=local_slurm", "logger=none", f"store={tmp_path / 'store'}"])
    with pytest.raises(LaunchError, match="Slurm refused the job"):
        submit_module.submit_run(compile_plan(cfg), tmp_path / "run")
    out = subprocess.run(["squeue", "-h", "-t", "PENDING,RUNNING", "-o", "%j"], capture_output=True, text=True,
                         check=True).stdout
    assert not set(calls[:2]) & set(out.split())  # both jobs queued before the refusal were cancelled
    assert not list(JobRegistry(cfg.store).root.glob("*/*.json"))
    assert not (tmp_path / "run" / "jobs.json").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("resources.stages.merge.gpus_per_node=1", "step merge (merge): resources.stages.merge.gpus_per_node"),
    ("resources.default.cpus_per_task=64", "resources.default.cpus_per_task = 64"),
    ("resources.stages.sft.mem_gb=512", "resources.stages.sft.mem_gb = 512"),
    ("cluster.partition=nowhere", "cluster.partition = 'nowhere': no such partition"),
])
def test_impossible_requests_fail_at_submit_with_a_clear_message(tmp_path, override, message):
    proc = hala(override, f"store={tmp_path / 'store'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert message in proc.stderr and "Fix:" in proc.stderr
    assert not (tmp_path / "run" / "jobs.json").exists()
    assert not list((tmp_path / "store").glob(".jobs/*/*.json"))  # nothing was queued


def test_hydra_submitit_launcher_runs_each_sweep_point_as_one_job(tmp_path):
    """hydra/launcher=slurm_h100 on the local node (its GPU and size settings lowered to fit):
    each point becomes one Slurm job running hala-exp inside it (here in plan mode, to stay lean)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hala_exp.cli", "-m", "merge.t=0.3,0.6", "plan=true",
         "hydra/launcher=slurm_h100", "cluster=local_slurm", "hydra.launcher.gpus_per_node=0",
         "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=30", f"store={tmp_path / 'store'}",
         f"hydra.sweep.dir={tmp_path / 'sweep'}"], capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outs = sorted((tmp_path / "sweep" / ".submitit").glob("*/*_log.out"))
    assert len(outs) == 2
    for out in outs:
        assert "24 to run, 0 reused" in out.read_text()
