"""The quiet console: fd-level capture into step logs, step lines, the live bar, progress from
subprocesses, and what a failing run prints (through the real CLI, on an early step)."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hala_exp import progress
from hala_exp.console.failure import StepFailure, failure_report
from hala_exp.console.headline import headline, number
from hala_exp.console.live import Console, describe
from hala_exp.json_files import tail_lines
from hala_exp.pipeline.dispatch import _stream
from hala_exp.stages import STAGES

CAPTURE_SCRIPT = textwrap.dedent("""
    import ctypes, logging, os, subprocess, sys, warnings
    from pathlib import Path
    from loguru import logger  # imported before: its handler holds the sys.stderr of that time
    from hala_exp.console.capture import redirect_output

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    print("outside-before", flush=True)
    try:
        with redirect_output(Path(sys.argv[1])):
            print("py-print")
            sys.stderr.write("py-stderr\\n")
            os.write(1, b"fd1-raw\\n")
            os.write(2, b"fd2-raw\\n")
            ctypes.CDLL(None).puts(b"libc-puts")  # C stdio, buffered: flushed on the way out
            logging.getLogger("some.library").info("library-log")
            warnings.warn("library-warning")
            logger.info("loguru-line")
            from tqdm import tqdm
            for _ in tqdm(range(3), desc="tqdm-bar"):
                pass
            subprocess.run([sys.executable, "-c", "import sys; print('child-out'); print('child-err', file=sys.stderr)"])
            raise ValueError("boom-inside")
    except ValueError as e:
        print(f"caught {e}", flush=True)
    print("outside-after", flush=True)
    os.write(2, b"fd2-after\\n")
""")


def test_capture_takes_every_write_into_the_log_and_restores_the_console(tmp_path):
    log = tmp_path / "steps" / "x.log"
    proc = subprocess.run([sys.executable, "-c", CAPTURE_SCRIPT, str(log)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["outside-before", "caught boom-inside", "outside-after"]
    assert proc.stderr.splitlines() == ["fd2-after"]  # the exception propagated; fds 1 and 2 came back
    text = log.read_text()
    for mark in ("py-print", "py-stderr", "fd1-raw", "fd2-raw", "libc-puts", "library-log", "library-warning",
                 "loguru-line", "tqdm-bar", "child-out", "child-err"):
        assert mark in text, mark


def test_plain_console_prints_start_end_and_reused_lines():
    out = io.StringIO()
    c = Console(out, total=3, width=12, live=False, plain_every_s=0)
    c.reused("build.a", "parameters 23.0k")
    c.started("sft")
    c.finished("sft", "ran", 75.0, "train_loss 1.585")
    c.started("merge")
    c.finished("merge", "failed", 0.4, "ValueError: no")
    assert out.getvalue().splitlines() == [
        "[1/3] reused  build.a               parameters 23.0k",
        "[2/3] running sft",
        "[2/3] ran     sft            1m15s  train_loss 1.585",
        "[3/3] running merge",
        "[3/3] failed  merge           0.4s  ValueError: no",
    ]


def test_live_console_redraws_one_line_with_a_bar_then_replaces_it(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = io.StringIO()
    c = Console(out, total=1, width=8, live=True, color=False)
    c.redraw_s = 0.0
    c.started("sft")
    c.progress([{"desc": "train", "unit": "steps", "total": 10, "done": 5, "initial": 0, "pending": 0,
                 "elapsed": 2.0}])
    c.finished("sft", "ran", 4.0, "train_loss 1.5")
    text = out.getvalue()
    assert "\r" in text and "█" * 10 + "░" * 10 + " 5/10 steps  2.5 steps/s  ETA 2.0s" in text
    assert text.endswith("\r\x1b[K[1/1] ran     sft         4.0s  train_loss 1.5\n")
    assert "\n" not in text[:-1].rsplit("\r", 1)[0]  # nothing but the final line ends a line


def test_describe_moves_the_outer_bar_with_the_inner_task():
    snap = [{"desc": "translate", "unit": "rows", "total": 80, "done": 0, "initial": 0, "pending": 80,
             "elapsed": 10.0},
            {"desc": "generate", "unit": "prompts", "total": 160, "done": 80, "initial": 0, "pending": 0,
             "elapsed": 10.0}]
    text = describe(snap, bar=False)
    assert text == "0/80 rows · 80/160 prompts  4 rows/s  ETA 10.0s"


def test_progress_tasks_nest_and_reach_the_listener():
    seen: list[list[dict]] = []
    leaked = progress.start(5, "steps")  # left open without a listener (a call that raised): never shown
    before = [t["total"] for t in progress.snapshot()]
    with progress.listening(seen.append):
        with progress.track(4, "rows", "translate") as outer:
            outer.working_on(4)
            with progress.track(8, "prompts") as inner:
                inner.advance(8)
            outer.advance(4)
    assert [len(s) for s in seen] == [1, 2, 2, 1, 1, 0]
    assert seen[2][1]["done"] == 8 and seen[4][0]["done"] == 4
    progress.start(1, "x").close()  # no listener: nothing to call, nothing left open
    assert [t["total"] for t in progress.snapshot()] == before
    with progress.listening(seen.append):
        progress.start(10, "steps")  # a trainer that raised before on_train_end
    assert [t["total"] for t in progress.snapshot()] == before  # gone with the step, not shown in the next one
    leaked.close()


def test_a_subprocess_progress_reaches_the_listener_and_stays_out_of_its_log(tmp_path):
    child = ("import sys\nfrom hala_exp import progress\n"
             "with progress.listening(progress.line_writer(sys.stdout, every_s=0)):\n"
             "    print('child says hi', flush=True)\n"
             "    with progress.track(3, 'steps') as t:\n"
             "        t.advance(3)\n")
    snaps: list = []
    log = tmp_path / "step.log"
    code, tail = _stream([sys.executable, "-c", child], log, {**__import__("os").environ}, echo=False,
                         on_progress=snaps.append)
    assert code == 0 and tail == ["child says hi"]
    assert log.read_text() == "child says hi\n"
    assert snaps[-1] == [] and any(s and s[0]["done"] == 3 for s in snaps)


def test_headline_picks_the_stage_metric_and_formats_counts():
    assert headline("sft", {"train_loss": 1.5849, "steps": 30.0}) == "train_loss 1.585"
    assert headline("evaluate_lighteval", {"smoke.average": 32.44, "smoke.x": 1.0,
                                           "arabic_mmlu_sample.acc_norm": 0.3}) == "smoke.average 32.44"
    assert headline("build_model", {"parameters": 23040.0}) == "parameters 23.0k"
    assert headline("unknown_stage", {"x": 1.0}) == ""
    assert number(48.0) == "48" and number(1_234_567.0) == "1.2M"


def test_headline_reads_the_stage_declaration(monkeypatch):
    monkeypatch.setitem(STAGES, "sft", dataclasses.replace(STAGES["sft"], headline=("steps", "train_loss")))
    assert headline("sft", {"train_loss": 1.5849, "steps": 30.0}) == "steps 30"
    assert headline("snapshot", {"rows.kept": 8.0}) == ""  # declares none


def test_failure_report_names_the_step_quotes_its_log_and_lists_what_never_ran(tmp_path):
    log = tmp_path / "sft.log"
    log.write_text("loading\n" + "".join(f"line {i}\n" for i in range(40)) + "ValueError: bad rows\n")
    text = failure_report(StepFailure("sft", "ValueError: bad rows", log, 3.2, ["merge", "evaluate.x"]))
    lines = text.splitlines()
    assert lines[0] == "hala-exp: step sft failed after 3.2s" and "  ValueError: bad rows" in lines
    assert f"--- last 25 lines of {log} ---" in text and "line 39" in text and "line 14" not in text
    assert f"Log: {log}" in lines and "Not run (2): merge, evaluate.x" in lines


def cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala_exp", f"store={tmp_path / 'store'}", "logger=none",
                           f"hydra.run.dir={tmp_path / 'run'}", *overrides], capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.slow
def test_a_failing_step_is_named_with_its_error_and_log_and_the_run_exits_nonzero(tmp_path):
    # the first step (the tiny teacher's warm-up) gets no rows: valid config, fails at run time
    proc = cli(tmp_path, "teacher.tiny.warmup_rows=0")
    assert proc.returncode == 1
    log = tmp_path / "run" / "steps" / "build.teacher.log"
    err = proc.stderr
    assert "hala-exp: step build.teacher failed" in err
    assert "ValueError: no training rows" in err and "--- last " in err and f"Log: {log}" in err
    quoted = err.split(f"lines of {log} ---\n", 1)[1].split("\n---\n", 1)[0].splitlines()
    assert quoted and quoted == tail_lines(log, len(quoted))  # the end of the step's log, verbatim
    assert "Not run (18): quantize_teacher, validate_teacher," in err  # the 5 source snapshots ran first
    assert "Traceback" not in proc.stdout and "Traceback" in log.read_text()
    assert proc.stdout.splitlines()[-1].startswith("[ 6/24] failed  build.teacher")
    steps = json.loads((tmp_path / "run" / "steps.json").read_text())["steps"]
    assert [s["status"] for s in steps] == ["ran"] * 5 + ["failed"] + ["not run"] * 18
    assert steps[5]["log"] == "steps/build.teacher.log" and "no training rows" in steps[5]["error"]


@pytest.mark.slow
def test_verbose_shows_the_libraries_output_on_the_console(tmp_path):
    proc = cli(tmp_path, "teacher.tiny.warmup_rows=0", "-v")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "[hala_exp][INFO] - step   build.teacher" in proc.stdout
    assert not (tmp_path / "run" / "steps" / "build.teacher.log").exists()  # nothing captured
    assert "hala-exp: step build.teacher failed" in proc.stderr and "Log:" not in proc.stderr
