"""A runner that lost its lease writes nothing more, then reuses the output of the run that took over.

The fence itself (`hala_exp.fence`) on a lease file, at a shard boundary, and then with real
processes: a runner training SFT is paused with SIGSTOP (a frozen node) past a short stale time, a
second runner takes the lease over and resumes from the first one's checkpoint, and the first is
woken while the second still trains, or after it has committed. Both end with exit 0, the step is
committed once, and nothing in the partial folder is written by the paused runner once it is woken.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hala_exp import fence
from hala_exp.data.samples_text import sample_texts
from hala_exp.json_files import write_jsonl
from hala_exp.pipeline.lease import Lease
from hala_exp.pipeline.store import Store
from hala_exp.shards import run_sharded
from hala_exp.training.sft import last_checkpoint

ROOT = Path(__file__).resolve().parents[1]
STALE_S = 10.0  # short for the test (the default is minutes), long enough for a loaded CI machine
KEY = "fence0"


def _steal(lease: Lease, owner_id: str = "other") -> None:
    """Another runner's take-over, as `Lease._take_over` writes it."""
    lease.path.write_text(json.dumps({"id": owner_id, "host": "elsewhere", "pid": 1}), encoding="utf-8")


def test_the_fence_holds_while_the_lease_is_ours_and_names_who_took_it(tmp_path):
    lease = Lease(tmp_path, "sft", "k", heartbeat_s=60, stale_s=STALE_S)
    assert lease.acquire()
    token = lease.token()
    assert fence.lost(token) is None
    _steal(lease)
    why = fence.lost(token)
    assert isinstance(why, fence.LeaseLost) and why.holder["host"] == "elsewhere"
    assert "elsewhere" in str(why) and "stopped before writing" in str(why)
    lease.path.unlink()  # the other runner committed and released it
    why = fence.lost(token)
    assert isinstance(why, fence.LeaseLost) and why.holder is None
    lease.release()


def test_a_silent_holder_renews_its_lease_and_goes_on_when_nobody_took_it(tmp_path):
    lease = Lease(tmp_path, "sft", "k", heartbeat_s=60, stale_s=STALE_S)
    assert lease.acquire()
    old = time.time() - 3 * STALE_S  # as after a pause longer than the stale time
    os.utime(lease.path, (old, old))
    assert fence.lost(lease.token()) is None
    assert time.time() - lease.path.stat().st_mtime < STALE_S  # renewed: waiters watch it again
    lease.release()


def test_a_take_over_decided_while_the_holder_was_silent_shows_before_it_writes(tmp_path):
    lease = Lease(tmp_path, "sft", "k", heartbeat_s=60, stale_s=STALE_S)
    assert lease.acquire()
    old = time.time() - 3 * STALE_S
    os.utime(lease.path, (old, old))
    # a waiter that found it stale an instant before the holder woke writes its take-over meanwhile
    threading.Timer(fence.SETTLE_S / 4, _steal, args=(lease,)).start()
    assert isinstance(fence.lost(lease.token()), fence.LeaseLost)
    lease.release()


def test_a_sharded_pass_writes_no_shard_once_its_lease_is_lost(tmp_path):
    lease = Lease(tmp_path, "judge", "k", heartbeat_s=60, stale_s=STALE_S)
    assert lease.acquire()
    shards = tmp_path / "shards"
    calls: list[int] = []

    def shard(rows: list[dict]) -> tuple[list[dict], dict[str, float]]:
        calls.append(len(rows))
        if len(calls) == 2:
            _steal(lease)  # taken over while the second shard was computed
        return rows, {}

    rows = [{"id": i} for i in range(6)]
    with fence.guarding(lease.token()), pytest.raises(fence.LeaseLost):
        run_sharded(rows, 2, shards, shard)
    assert sorted(p.name for p in shards.glob("shard-*.jsonl")) == ["shard-00000.jsonl"]
    assert len(calls) == 2
    lease.release()


# --- real processes: two runners on one store, the first paused past the stale time ---------------

MAX_STEPS = 40
# 32 rows a step (~0.1 s and more) and a checkpoint every 2: the pause lands between checkpoints.
TRAIN = {"name": "t", "epochs": 1, "max_steps": MAX_STEPS, "warmup_ratio": 0.0, "lr_scheduler": "linear",
         "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True, "bf16": False,
         "gradient_checkpointing": False, "logging_steps": 4, "save_steps": 2, "seed": 0}
MODEL = {"learning_rate": 1e-3, "global_batch": 32, "max_length": 64}
OPTIONS = {"micro_batch": 2}  # 16 accumulated in one process
RUNNER = """
import json, logging, sys
from pathlib import Path
from hala_exp.pipeline.dispatch import run_step
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
spec = json.loads(Path(sys.argv[1]).read_text())
record, ran = run_step(spec, sys.argv[2] or None, Path(sys.argv[3]), echo=True)
print("RESULT " + json.dumps({"ran": ran, "key": record["key"]}), flush=True)
"""


def _spec(root: Path, model: Path) -> tuple[Path, Store]:
    """The SFT step as the pipeline hands it to `run_step`, checkpoints in the store's partial folder."""
    store = Store(root / "store")
    texts = sample_texts()[:80]
    corpus = root / "corpus.jsonl"
    write_jsonl(corpus, [{"id": i, "instr_en": f"Say {i}", "resp_en": f"Item {i}", "instr_ar": f"Translate: {a}",
                          "resp_ar": b} for i, (a, b) in enumerate(zip(texts[::2], texts[1::2], strict=True))])
    spec = {"name": "sft", "stage": "sft", "fn": "hala_exp.stages.sft:run", "version": "1", "key": KEY,
            "store": str(store.root), "config": {"arabic_ratio": None, "seed": 0, "model": MODEL, "train": TRAIN,
                                                  "options": OPTIONS},
            "inputs": {"corpus": str(corpus), "model": str(model), "checkpoints": str(store.partial("sft", KEY))},
            "input_keys": {}, "input_steps": {}, "tracking": None}
    (root / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return root / "spec.json", store


def _runner(root: Path, spec: Path, name: str, python: str) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "HALA_LEASE_STALE_S": str(STALE_S), "HALA_LEASE_HEARTBEAT_S": "0.5"}
    log = root / f"{name}.log"
    with open(log, "w", encoding="utf-8") as out:  # its own session: SIGSTOP reaches its step process too
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(spec), python, str(root / name)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, log


def _signal(proc: subprocess.Popen, sig: signal.Signals) -> None:
    os.killpg(proc.pid, sig)


def _newest(store: Store) -> int:
    newest = last_checkpoint(store.partial("sft", KEY))
    return int(newest.rsplit("-", 1)[1]) if newest else 0


def _until(what: str, ready, *alive: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not ready():
        for p in alive:
            assert p.poll() is None, f"a runner ended (exit {p.returncode}) before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its (size, mtime_ns): a write of any of them shows."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _result(proc: subprocess.Popen, log: Path) -> dict:
    assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]
    return json.loads(text.split("RESULT ", 1)[1].splitlines()[0])


@pytest.mark.slow
@pytest.mark.parametrize(("woken", "in_process"), [("while_the_other_trains", True), ("after_it_committed", False)])
def test_a_paused_runner_past_the_stale_time_is_taken_over_and_then_writes_nothing(tiny_lfm2, tmp_path, woken,
                                                                                     in_process):
    """In process (the local default) and as `python -m hala_exp.step_process` under the runner (another env)."""
    spec, store = _spec(tmp_path, tiny_lfm2)
    python = "" if in_process else sys.executable
    partial = store.partial("sft", KEY)
    first, first_log = _runner(tmp_path, spec, "first", python)
    _until("the first runner's first checkpoint", lambda: _newest(store) >= 2, first)
    _signal(first, signal.SIGSTOP)  # frozen: its heartbeat stops too
    paused_at = _newest(store)
    assert paused_at < MAX_STEPS
    second, second_log = _runner(tmp_path, spec, "second", python)
    try:
        _until("the take-over", lambda: "resuming from" in second_log.read_text(), second)
        assert f"checkpoint-{paused_at}" in second_log.read_text().split("resuming from", 1)[1].splitlines()[0]
        if woken == "while_the_other_trains":
            _until("the second runner's own checkpoint", lambda: _newest(store) > paused_at, second)
            _signal(second, signal.SIGSTOP)  # held still (briefly: under the stale time) so any write is the first's
            before = _files(partial)
            _signal(first, signal.SIGCONT)
            _until("the first runner to see its lease lost", lambda: "stopped without writing" in first_log.read_text(),
                   first, timeout=STALE_S - 3)
            time.sleep(0.5)
            assert _files(partial) == before, "the runner that lost its lease wrote into the partial folder"
            _signal(second, signal.SIGCONT)
            b = _result(second, second_log)
        else:
            b = _result(second, second_log)
            record = store.path("sft", KEY) / "record.json"
            committed = record.read_bytes(), record.stat().st_mtime_ns
            _signal(first, signal.SIGCONT)
        a = _result(first, first_log)
    finally:
        for p in (first, second):
            if p.poll() is None:
                _signal(p, signal.SIGCONT)
                _signal(p, signal.SIGKILL)
    assert (a["ran"], b["ran"]) == (False, True)  # committed once, by the runner that took over
    rec = store.record("sft", KEY)
    assert rec is not None and rec["metrics"]["steps"] == MAX_STEPS
    assert not partial.exists()  # removed at the commit, never written again by the first runner
    assert not list(store.tmp.iterdir())  # the first runner's work directory is gone too
    assert "stopped without writing" in first_log.read_text()
    if woken == "after_it_committed":
        assert (record.read_bytes(), record.stat().st_mtime_ns) == committed


def test_a_lease_time_that_is_not_a_positive_number_is_refused_before_any_step(tmp_path):
    env = {**os.environ, "HALA_LEASE_STALE_S": "2min"}
    proc = subprocess.run([sys.executable, "-m", "hala_exp", "plan=true", f"store={tmp_path / 'store'}"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "HALA_LEASE_STALE_S = '2min': must be a positive number of seconds" in proc.stderr
    assert "Fix: unset it or set e.g. HALA_LEASE_STALE_S=120" in proc.stderr
