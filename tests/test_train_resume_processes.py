"""A training step interrupted in a real process after a checkpoint, then resumed, ends with the
uninterrupted run's weights *and* its whole-run metrics (train_loss, steps, logged losses), also in
what it sends to W&B.

Two interruptions: SIGKILL of `python -m hala_exp.step_process`, twice (nothing of a process survives but its
checkpoints), and USR2 to a submitit job running `StepJob`, which checkpoints and requeues it
(what Slurm does on preemption or before the time limit; here submitit's local executor requeues).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from wandb_files import history, offline_runs, read_run

from hala_exp.data.samples_text import sample_texts
from hala_exp.json_files import write_jsonl
from hala_exp.pipeline.store import Store
from hala_exp.training.sft import last_checkpoint

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
MAX_STEPS = 12
KEY = "k0"
# Logging every 3 steps, checkpoints every 2: logged intervals straddle the checkpoints. 32 rows a
# step keeps a step slow enough (~0.1 s and more) for the interruption to land mid-run.
TRAIN = {"name": "t", "epochs": 1, "max_steps": MAX_STEPS, "warmup_ratio": 0.0, "lr_scheduler": "linear",
         "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True, "bf16": False,
         "gradient_checkpointing": False, "logging_steps": 3, "save_steps": 2, "seed": 0}
MODEL = {"learning_rate": 1e-3, "global_batch": 32, "max_length": 64}
OPTIONS = {"micro_batch": 2}  # 16 accumulated in one process


def _corpus(path: Path) -> Path:
    texts = sample_texts()[:80]
    write_jsonl(path, [{"id": i, "instr_en": f"Say {i}", "resp_en": f"Item {i}", "instr_ar": f"Translate: {a}",
                        "resp_ar": b} for i, (a, b) in enumerate(zip(texts[::2], texts[1::2], strict=True))])
    return path


def _spec(root: Path, model: Path, tracked: bool) -> tuple[Path, Store]:
    """The SFT stage as the pipeline runs it: a JSON spec with a checkpoint directory in the store."""
    store = Store(root / "store")
    tracking = {"backend": "wandb", "project": "resume", "entity": None, "mode": "offline",
                "dir": str(root / "wb"), "group": "resume", "experiment": "resume", "label": "",
                "upload_artifacts": False, "config": {}} if tracked else None
    spec = {"name": "sft", "stage": "sft", "fn": "hala_exp.stages.sft:run", "version": "1", "key": KEY,
            "store": str(store.root), "config": {"arabic_ratio": None, "seed": 0, "model": MODEL, "train": TRAIN,
                                                  "options": OPTIONS},
            "inputs": {"corpus": str(_corpus(root / "corpus.jsonl")), "model": str(model),
                       "checkpoints": str(store.partial("sft", KEY))},
            "input_keys": {}, "input_steps": {}, "tracking": tracking}
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return root / "spec.json", store


def _env() -> dict[str, str]:
    # One thread in every process, so reductions run in the same order in all of them.
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def _step(spec: Path, log: Path) -> subprocess.Popen:
    with open(log, "a", encoding="utf-8") as out:
        return subprocess.Popen([sys.executable, "-m", "hala_exp.step_process", str(spec)], stdout=out,
                                stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


def _newest_step(store: Store) -> int:
    newest = last_checkpoint(store.partial("sft", KEY))
    return int(newest.rsplit("-", 1)[1]) if newest else 0


def _until_checkpoint(store: Store, alive, after: int = 0) -> None:
    """Wait until the running step has written a complete checkpoint past step `after`."""
    deadline = time.time() + 600
    while _newest_step(store) <= after:
        assert alive(), f"the step ended before a checkpoint past step {after}"
        assert time.time() < deadline
        time.sleep(0.02)


def _checkpoint_step(store: Store, after: int = 0) -> int:
    step = _newest_step(store)
    assert after < step < MAX_STEPS, f"interrupted at step {step}: nothing left to resume"
    return step


def _weights(store: Store) -> dict[str, torch.Tensor]:
    return load_file(str(store.path("sft", KEY) / "model" / "model.safetensors"))


def _assert_same_run(resumed: Store, straight: Store) -> dict[str, float]:
    a, b = straight.record("sft", KEY), resumed.record("sft", KEY)
    assert a is not None and b is not None
    wa, wb = _weights(straight), _weights(resumed)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=0, atol=0, msg=name)
    ma, mb = a["metrics"], b["metrics"]
    assert mb["steps"] == ma["steps"] == MAX_STEPS
    assert mb["train_loss"] == pytest.approx(ma["train_loss"], rel=1e-6)
    assert (mb["first_loss"], mb["last_loss"]) == (ma["first_loss"], ma["last_loss"])
    assert not resumed.partial("sft", KEY).exists()  # the checkpoints go once the output is committed
    return mb


@pytest.fixture(scope="module")
def straight(tiny_lfm2, tmp_path_factory) -> Store:
    """The same step, never interrupted, in a process of its own."""
    root = tmp_path_factory.mktemp("straight")
    spec, store = _spec(root, tiny_lfm2, tracked=True)
    proc = _step(spec, root / "step.log")
    assert proc.wait(timeout=900) == 0, (root / "step.log").read_text()[-3000:]
    return store


@pytest.fixture
def parent_service() -> None:
    """A W&B service running in this process, as in a driver that ran a tracked step in-process: wandb
    exports its token (WANDB_SERVICE), so every step process started from here inherits it."""
    import wandb

    wandb.setup()
    assert os.environ.get("WANDB_SERVICE")


def test_sigkill_after_a_checkpoint_resumes_to_the_same_weights_and_train_loss(straight, tiny_lfm2, tmp_path,
                                                                              parent_service):
    spec, store = _spec(tmp_path, tiny_lfm2, tracked=True)
    log = tmp_path / "step.log"
    stops = [0]
    for _ in range(2):  # killed twice: the second attempt resumes, checkpoints, and is killed in turn
        proc = _step(spec, log)
        try:
            _until_checkpoint(store, lambda: proc.poll() is None, after=stops[-1])
        except AssertionError as e:  # say how the attempt ended: its exit status and the end of its log
            raise AssertionError(f"{e}; exit {proc.returncode}:\n{log.read_text()[-3000:]}") from None
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        assert store.record("sft", KEY) is None
        stops.append(_checkpoint_step(store, after=stops[-1]))

    again = _step(spec, log)  # what a rerun of the pipeline does
    assert again.wait(timeout=900) == 0, log.read_text()[-3000:]
    assert [int(s) for s in re.findall(r"resuming from \S*checkpoint-(\d+)", log.read_text())] == stops[1:]
    metrics = _assert_same_run(store, straight)
    assert metrics["resumed_at_step"] == stops[-1]

    # W&B: the resumed attempt continues the killed one's run, and its summary is the whole run's
    runs = offline_runs(tmp_path / "wb")
    assert len(runs) == 3 and len({r.name.rsplit("-", 1)[1] for r in runs}) == 1
    summary = read_run(runs[-1])["summary"]
    base = read_run(offline_runs(Path(straight.root).parent / "wb")[0])["summary"]
    assert summary["train_loss"] == pytest.approx(base["train_loss"], rel=1e-6)
    seconds = store.record("sft", KEY)["seconds"]  # this attempt's wall time: only its own steps count
    assert summary["throughput/train_steps_per_s"] == pytest.approx((MAX_STEPS - stops[-1]) / seconds)

    # ... and its curve: the attempts' logged steps follow each other, none twice, none reset to 0
    # (what a killed attempt's W&B service never wrote, the next one replays from its checkpoint),
    # and together they are the uninterrupted run's curve
    attempts = [_curve(r) for r in runs]
    steps = [s for a in attempts for s, _ in a]
    assert steps == sorted(set(steps)) and steps[-1] == MAX_STEPS
    assert all(a[0][0] > b[-1][0] for b, a in zip(attempts, attempts[1:]) if a and b)
    whole = dict(_curve(offline_runs(Path(straight.root).parent / "wb")[0]))
    assert dict(s for a in attempts for s in a) == pytest.approx(whole)


def _curve(run_dir: Path) -> list[tuple[int, float]]:
    """(W&B step, train/loss) of each training log of one attempt; the W&B step is the trainer's."""
    rows = [h for h in history(run_dir) if "train/loss" in h]
    assert all(h["_step"] == h["train/global_step"] for h in rows)
    return [(h["_step"], h["train/loss"]) for h in rows]


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def test_usr2_requeue_resumes_to_the_same_weights_and_train_loss(straight, tiny_lfm2, tmp_path, monkeypatch):
    import submitit

    from hala_exp.launch.job import StepJob

    spec_file, store = _spec(tmp_path, tiny_lfm2, tracked=False)
    for k, v in _env().items():
        monkeypatch.setenv(k, v)  # the executor's processes inherit this environment
    executor = submitit.LocalExecutor(folder=tmp_path / "jobs")
    executor.update_parameters(timeout_min=20)
    job = executor.submit(StepJob(json.loads(spec_file.read_text()), max_requeues=2))
    controller = int(job.job_id)
    _until_checkpoint(store, lambda: not job.done())
    tasks = _children(controller)
    assert len(tasks) == 1
    os.kill(tasks[0], signal.SIGUSR2)  # what `scancel --signal=USR2` delivers to the job's task
    result = job.result()
    log = job.stderr() or ""
    assert "requeuing (1 of 2)" in log and "resuming from" in log, log[-3000:]
    resumed = re.search(r"resuming from \S*checkpoint-(\d+)", log)
    assert resumed and 0 < (stopped_at := int(resumed.group(1))) < MAX_STEPS
    metrics = _assert_same_run(store, straight)
    assert metrics["resumed_at_step"] == stopped_at
    assert result["metrics"]["train_loss"] == metrics["train_loss"]
