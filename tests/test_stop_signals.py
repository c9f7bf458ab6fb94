"""SIGTERM and SIGINT stop a training step cleanly, in real processes: one log line naming the step
and the signal, a checkpoint saved where the step stood, its work directory removed, nothing
committed, exit status 128 + the signal; the next run resumes from that checkpoint.

Three ways in: SIGTERM to `python -m hala_exp.step_process` (what a Slurm job's task gets on `scancel`),
SIGINT to a local `hala-exp` run's process group (Ctrl+C), and SIGTERM to `hala-exp` alone while
the step runs in another interpreter, which must pass it on and wait for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_train_resume_processes import KEY, MAX_STEPS, _env, _spec, _weights

from hala_exp import progress
from hala_exp.pipeline.store import Store

pytestmark = pytest.mark.slow
NO_PERIODIC = 1000  # save_steps past the end: the only checkpoint is the one the signal asks for
# The tiny recipe up to the translator's SFT, its warm-ups cut short; 8 micro-batches of 16 a step keep the
# SFT slow enough (~1 s a step) for a signal to land mid-run.
PIPELINE = ["targets=[train_translator]", "teacher.tiny.warmup_steps=2", "judge.tiny.warmup_steps=2",
            "translator.tiny.warmup_steps=2", "translator.global_batch=128", "logger=none"]
STEP = "train_translator"


def _checkpoint_steps(folder: Path) -> list[int]:
    return sorted(int(d.name.split("-")[1]) for d in folder.glob("checkpoint-*") if (d / "trainer_state.json").is_file())


def _no_work_dirs(store: Store, step: str) -> None:
    left = [d.name for d in store.tmp.glob(f"{step}-*")] if store.tmp.is_dir() else []
    assert not left, f"work directories left behind: {left}"


def _step_at(line: str) -> int:
    """The training step a progress marker line reports, or -1."""
    _, snap = progress.parse_line(line)
    return int(next((t["done"] for t in snap or [] if t["unit"] == "steps"), -1))


def test_sigterm_to_a_step_process_saves_a_checkpoint_and_the_next_run_resumes_from_it(tiny_lfm2, tmp_path):
    for d in ("stopped", "straight"):
        (tmp_path / d).mkdir()
    spec_file, store = _spec(tmp_path / "stopped", tiny_lfm2, tracked=False)
    spec = json.loads(spec_file.read_text())
    spec["config"]["train"]["save_steps"] = NO_PERIODIC
    spec_file.write_text(json.dumps(spec))
    env = {**_env(), progress.ENV: "1"}  # the step writes its progress as marker lines: we know its step
    cmd = [sys.executable, "-m", "hala_exp.step_process", str(spec_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if _step_at(line) >= 2:
            proc.send_signal(signal.SIGTERM)
            break
    out += proc.stdout.read()
    log = "".join(out)
    assert proc.wait(timeout=300) == 128 + signal.SIGTERM, log[-3000:]
    assert re.search(r"step sft: received SIGTERM; saving a checkpoint first, then stopping", log), log[-3000:]
    assert "step sft stopped by SIGTERM: not committed" in log
    assert store.record("sft", KEY) is None
    _no_work_dirs(store, "sft")
    saved = _checkpoint_steps(store.partial("sft", KEY))
    assert len(saved) == 1 and 2 <= saved[0] < MAX_STEPS, saved  # made on the signal, not periodic
    assert f"checkpoint-{saved[0]} saved" in log

    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming from {store.partial('sft', KEY)}/checkpoint-{saved[0]}" in again.stderr
    metrics = store.record("sft", KEY)["metrics"]
    assert metrics["resumed_at_step"] == saved[0] and metrics["steps"] == MAX_STEPS

    # the same step never stopped: identical weights and whole-run loss, so the checkpoint was a true one
    straight_spec, straight = _spec(tmp_path / "straight", tiny_lfm2, tracked=False)
    spec["store"] = str(straight.root)
    spec["inputs"]["checkpoints"] = str(straight.partial("sft", KEY))
    straight_spec.write_text(json.dumps(spec))
    whole = subprocess.run([sys.executable, "-m", "hala_exp.step_process", str(straight_spec)], capture_output=True,
                           text=True, env=_env(), timeout=600)
    assert whole.returncode == 0, whole.stderr[-3000:]
    for name, tensor in _weights(straight).items():
        torch.testing.assert_close(_weights(store)[name], tensor, rtol=0, atol=0, msg=name)
    assert metrics["train_loss"] == pytest.approx(straight.record("sft", KEY)["metrics"]["train_loss"], rel=1e-6)


def _cli(store: Path, run_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hala_exp", *PIPELINE, f"store={store}", f"hydra.run.dir={run_dir}",
                             *overrides], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(), start_new_session=True)


def _partial(store: Path) -> Path:
    parts = list((store / ".partial").glob(f"{STEP}-*")) if (store / ".partial").is_dir() else []
    return parts[0] if parts else store / ".partial" / "none"


def _while_training(proc: subprocess.Popen, store: Path, after: int) -> None:
    """Wait until the run's training step has written checkpoint `after` (it is then mid-run)."""
    deadline = time.time() + 600
    while after not in _checkpoint_steps(_partial(store)):
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> dict:
    """A local run stopped with SIGINT to its process group, as Ctrl+C does, while the translator trains."""
    root = tmp_path_factory.mktemp("sigint")
    store, run_dir = root / "store", root / "run1"
    proc = _cli(store, run_dir)
    _while_training(proc, store, after=4)  # the tiny train config checkpoints every 4 steps
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    return {"root": root, "store": store, "run_dir": run_dir, "code": proc.returncode, "out": out}


def test_sigint_stops_a_local_run_with_a_checkpoint_and_says_so(interrupted):
    out, run_dir, store = interrupted["out"], interrupted["run_dir"], interrupted["store"]
    assert interrupted["code"] == 128 + signal.SIGINT, out[-3000:]
    assert re.search(r"interrupted\s+train_translator .*stopped by SIGINT", out), out  # the console's step line
    assert "hala-exp: step train_translator stopped by SIGINT: not committed" in out and "Run the same command again" in out
    log = (run_dir / "steps" / f"{STEP}.log").read_text()
    assert log.count("step train_translator: received SIGINT; saving a checkpoint first, then stopping") == 1, log[-3000:]
    saved = _checkpoint_steps(_partial(store))
    assert saved[-1] > 4 and f"checkpoint-{saved[-1]} saved" in log  # the signal's, past the periodic one
    assert not list(store.glob(f"{STEP}/*/record.json"))
    _no_work_dirs(Store(store), STEP)
    steps = {s["name"]: s for s in json.loads((run_dir / "steps.json").read_text())["steps"]}
    assert steps[STEP]["status"] == "interrupted" and steps[STEP]["error"] == "stopped by SIGINT"


def test_the_run_after_a_sigint_resumes_from_its_checkpoint(interrupted):
    store = interrupted["store"]
    saved = _checkpoint_steps(_partial(store))[-1]
    run_dir = interrupted["root"] / "run2"
    proc = _cli(store, run_dir)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert f"checkpoint-{saved}" in re.search(r"resuming from \S+", (run_dir / "steps" / f"{STEP}.log").read_text())[0]
    record = json.loads(next(store.glob(f"{STEP}/*/record.json")).read_text())
    assert record["metrics"]["resumed_at_step"] == saved and record["metrics"]["steps"] == MAX_STEPS


def test_sigterm_to_a_run_is_passed_on_to_a_step_in_another_interpreter(interrupted, second_env):
    store = interrupted["store"]
    for d in [*store.glob(f"{STEP}/*"), *store.glob(f".partial/{STEP}-*")]:  # the step from the start, its upstream reused
        shutil.rmtree(d)
    run_dir = interrupted["root"] / "other"
    proc = _cli(store, run_dir, f"+runtime.envs.other={second_env}", f"runtime.stages.{STEP}=other")
    _while_training(proc, store, after=4)
    children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    os.kill(proc.pid, signal.SIGTERM)  # the parent alone: it must pass the signal on
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert "hala-exp: step train_translator stopped by SIGTERM" in out
    log = (run_dir / "steps" / f"{STEP}.log").read_text()
    assert "step train_translator: received SIGTERM; passed on to its process" in log  # the parent
    assert "step train_translator: received SIGTERM; saving a checkpoint first, then stopping" in log  # the child
    assert "its process stopped with status 143" in log
    for pid in children:  # waited for, not left behind
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not list(store.glob(f"{STEP}/*/record.json"))
    _no_work_dirs(Store(store), STEP)
