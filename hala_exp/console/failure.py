"""What a failed run prints: the step, its error, the end of its log, where the log is, what never ran."""

from __future__ import annotations

import traceback
from pathlib import Path

from hala_exp.json_files import tail_lines
from hala_exp.stopping import Stopped

TAIL = 25  # log lines quoted
# Errors in what the user gave (a source, a config value, a file) or where the run writes (a full
# disk): their message names the key or file, the value and the fix, so the report quotes it alone;
# the traceback stays in the step's log.
INPUT_ERRORS = ("SourceError", "SchemaError", "ConfigError", "UnreadableFile", "DiskFull")


def input_error(error: str) -> str | None:
    """The message of an input error (`module.SourceError: msg` -> `msg`), else None."""
    head, sep, message = error.partition(": ")
    return message if sep and head.rsplit(".", 1)[-1] in INPUT_ERRORS else None


class StepFailure(Exception):
    """A step of the pipeline raised; carries what the console and the report show about it."""

    def __init__(self, step: str, error: str, log: Path | None, seconds: float, not_run: list[str]):
        super().__init__(step, error, log, seconds, not_run)  # args: so it pickles
        self.step, self.error, self.log, self.seconds, self.not_run = step, error, log, seconds, not_run

    def __str__(self) -> str:
        return f"step {self.step} failed: {self.error}"


def error_text(e: BaseException, max_lines: int = 12) -> str:
    """`Type: message` of `e`, cut to its first lines (a subprocess failure quotes its log itself)."""
    text = "".join(traceback.format_exception_only(type(e), e)).strip()
    lines = text.splitlines()
    if "--- last " in text:  # execute.StepFailed: the tail follows, from the log file
        lines = lines[:next(i for i, line in enumerate(lines) if line.startswith("--- last "))]
    return "\n".join(lines[:max_lines])


def failure_report(f: StepFailure) -> str:
    message = input_error(f.error)
    out = [f"hala-exp: step {f.step} failed after {f.seconds:.1f}s", f"  {message or f.error}".replace("\n", "\n  ")]
    tail = [] if message else tail_lines(f.log, TAIL)
    if tail:
        out.append(f"--- last {len(tail)} lines of {f.log} ---")
        out.extend(tail)
        out.append("---")
    if f.log is not None:
        out.append(f"Log: {f.log}")
    if f.not_run:
        out.append(f"Not run ({len(f.not_run)}): {', '.join(f.not_run)}")
    out.append("Fix the cause and run the same command again: complete steps are reused.")
    return "\n".join(out)


def stopped_report(e: Stopped, run_dir: Path) -> str:
    """What a run stopped by a signal prints: which step, which signal, where its log is, how to resume."""
    log = run_dir / "steps" / f"{e.step}.log"
    head = (f"hala-exp: {e}: not committed, its work directory removed" + (f"; log {log}" if log.is_file() else "")
            if e.step else f"hala-exp: {e}")
    return (f"{head}.\nRun the same command again to resume: complete steps are reused, and a step that "
            "saved a checkpoint continues from it.")
