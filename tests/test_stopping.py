"""The pieces of stopping and of a stopped step's report, in this process, with real signals:
`hala_exp.stopping`, a log tail without progress bars, a Slurm job's cause in words, the resume command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tqdm import tqdm

from hala_exp import progress, stopping
from hala_exp.json_files import tail_lines
from hala_exp.launch.causes import cause_and_fix
from hala_exp.launch.queue import JobState
from hala_exp.launch.resume import resume_command


def _signal_self(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.5)  # the handler runs at the next bytecode; the sleep is cut short by it


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_inside_handling_raises_stopped_and_the_handlers_are_put_back(signum, caplog):
    before = {s: signal.getsignal(s) for s in stopping.SIGNALS}
    with pytest.raises(stopping.Stopped) as stopped:
        with stopping.handling("outer"), stopping.handling("sft"):
            _signal_self(signum)
    assert stopped.value.signum == signum and stopped.value.step == "sft"
    assert stopped.value.exit_code == 128 + signum
    assert str(stopped.value) == f"step sft stopped by {signal.Signals(signum).name}"
    assert f"step sft: received {signal.Signals(signum).name}; stopping now" in caplog.text
    assert {s: signal.getsignal(s) for s in stopping.SIGNALS} == before
    assert stopping.requested() is None


def test_deferred_lets_the_block_finish_then_stops_and_a_second_signal_is_ignored(caplog):
    finished = []
    with pytest.raises(stopping.Stopped):
        with stopping.handling("sft"), stopping.deferred("saving a checkpoint first"):
            _signal_self(signal.SIGTERM)
            assert stopping.requested() == signal.SIGTERM
            _signal_self(signal.SIGTERM)  # again: logged, not raised
            finished.append(True)
    assert finished == [True]
    assert "step sft: received SIGTERM; saving a checkpoint first, then stopping" in caplog.text
    assert "SIGTERM again while step sft stops: ignored" in caplog.text


def test_a_stop_between_steps_says_so(caplog):
    with pytest.raises(stopping.Stopped, match=r"the run \(between steps\) stopped by SIGINT"):
        with stopping.handling(""):
            _signal_self(signal.SIGINT)


def test_a_forwarded_signal_goes_to_the_child_and_the_parent_waits_for_it(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import signal, sys, time\n"
                              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\nprint('ready', flush=True)\n"
                              "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    with pytest.raises(stopping.Stopped):
        with stopping.handling("merge"):
            with stopping.forwarding(child):
                _signal_self(signal.SIGTERM)  # no raise: the child has it
                assert child.wait(timeout=30) == 7
            stopping.check()


def test_the_log_tail_leaves_out_progress_bars_and_markers(tmp_path):
    log = tmp_path / "step.log"
    with open(log, "w", encoding="utf-8") as f:
        f.write("loading model\n")
        for _ in tqdm(range(50), file=f, desc="Map", mininterval=0):  # real tqdm output, \r-redrawn
            pass
        for _ in tqdm(range(7), file=f, desc="Generating split", unit=" examples", mininterval=0,
                      total=None):
            pass
        progress.line_writer(f)([{"desc": "train", "unit": "steps", "total": 12.0, "done": 3.0}])
        f.write("ValueError: no training rows\n")
    assert tail_lines(log, 5) == ["loading model", "ValueError: no training rows"]
    assert len(tail_lines(log, 5, progress=True)) == 5


@pytest.mark.parametrize(("state", "detail", "code", "cause", "fix"), [
    ("CANCELLED", "CANCELLED by 0", "0:15", "CANCELLED by root (uid 0) after 00:00:03", "run the same command"),
    ("TIMEOUT", "TIMEOUT", "0:15", "TIMEOUT: hit its time limit after 00:00:03", "resources.stages.sft.timeout_min"),
    ("OUT_OF_MEMORY", "OUT_OF_MEMORY", "0:125", "OUT_OF_MEMORY after 00:00:03", "resources.stages.sft.mem_gb"),
    ("NODE_FAIL", "NODE_FAIL", "0:0", "NODE_FAIL: its node failed after 00:00:03", "nothing to change"),
    ("FAILED", "FAILED", "1:0", "FAILED with exit 1 after 00:00:03", "fix the cause"),
    ("FAILED", "FAILED", "0:9", "FAILED with signal SIGKILL after 00:00:03", "fix the cause"),
])
def test_a_jobs_end_in_words_with_the_key_to_change(state, detail, code, cause, fix):
    js = JobState("7", "hala.sft.k", state, f"exit {code}", detail=detail, exit_code=code, elapsed="00:00:03")
    said, todo = cause_and_fix(js, "sft")
    assert said == cause and fix in todo


def test_the_resume_command_is_the_runs_own_command_line(tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"overrides": ["cluster=h100", "targets=[sft]", "store=out/c"]}))
    (run / ".hydra" / "hydra.yaml").write_text(f"hydra:\n  runtime:\n    cwd: {tmp_path / 'proj'}\n")
    assert resume_command(run) == f"cd {tmp_path / 'proj'} && hala-exp cluster=h100 'targets=[sft]' store=out/c"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "proj").mkdir()
    monkeypatch.chdir(tmp_path / "proj")
    assert resume_command(run) == "hala-exp cluster=h100 'targets=[sft]' store=out/c"
    (run / "run.json").unlink()
    (run / ".hydra" / "overrides.yaml").write_text("- merge.t=0.5\n")
    assert resume_command(run) == "hala-exp merge.t=0.5"


RANK = """import json, sys, torch.distributed as dist
from hala_exp.training.stop_signal import any_rank
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:" + sys.argv[2], rank=rank, world_size=2)
print(json.dumps([any_rank(rank == 1), any_rank(False)]))
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_every_rank_stops_at_the_same_step_when_one_got_the_signal():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, "-c", RANK, str(r), port], stdout=subprocess.PIPE, text=True, env=env)
             for r in (0, 1)]
    outs = [p.communicate(timeout=120)[0] for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0]
    assert [json.loads(o.strip().splitlines()[-1]) for o in outs] == [[True, False], [True, False]]
