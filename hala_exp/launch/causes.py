"""Why a Slurm job ended without its step's output, in words, and what to change before running again.

sacct says how a job ended (`CANCELLED by 0`, `TIMEOUT`, `OUT_OF_MEMORY`, `NODE_FAIL`, `FAILED`
with an exit code); `hala-exp-status` turns that into one line naming the cause and one naming the
fix, which is a config key where there is one.
"""

from __future__ import annotations

import pwd
import signal

from hala_exp.launch.queue import JobState

RERUN = "run the same command again to submit it anew"


def _user(uid: str) -> str:
    try:
        return f"{pwd.getpwuid(int(uid)).pw_name} (uid {uid})"
    except (KeyError, ValueError):
        return f"uid {uid}"


def _exit(code: str) -> str:
    """sacct's `code:signal` in words: "exit 1", "signal SIGTERM"."""
    status, _, sig = code.partition(":")
    if sig and sig != "0":
        try:
            return f"signal {signal.Signals(int(sig)).name}"
        except ValueError:
            return f"signal {sig}"
    return f"exit {status}" if status else ""


def cause_and_fix(js: JobState | None, stage: str) -> tuple[str, str]:
    """(what ended the job, what to do about it) for a job whose step has no output."""
    if js is None:
        return "the job is not known to squeue or sacct (gone from the accounting)", RERUN
    after = f" after {js.elapsed}" if js.elapsed else ""
    how = _exit(js.exit_code)
    key = f"resources.stages.{stage}"
    if js.state == "CANCELLED":
        words = js.detail.split()
        by = f" by {_user(words[2])}" if len(words) == 3 and words[1] == "by" else ""
        return f"CANCELLED{by}{after}", RERUN
    if js.state == "TIMEOUT":
        return (f"TIMEOUT: hit its time limit{after}",
                f"raise {key}.timeout_min (or cluster.max_requeues if it requeued), then {RERUN}")
    if js.state == "OUT_OF_MEMORY":
        return f"OUT_OF_MEMORY{after}", f"raise {key}.mem_gb, then {RERUN}"
    if js.state == "NODE_FAIL":
        return f"NODE_FAIL: its node failed{after}", f"nothing to change: {RERUN}"
    if js.state == "PREEMPTED":
        return f"PREEMPTED{after}", RERUN
    if js.state == "COMPLETED":
        return ("COMPLETED, but its output is not in the store", f"see its log, then {RERUN}")
    return (f"{js.state}{' with ' + how if how else ''}{after}",
            f"fix the cause (its log below), then {RERUN}")
