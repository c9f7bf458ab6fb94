"""Stop a step cleanly on SIGTERM or SIGINT: say so, keep what can resume, leave nothing half-done.

Slurm sends SIGTERM on `scancel` and at the time limit (SIGKILL follows after its KillWait); a
terminal sends SIGINT on Ctrl+C. Python's default for SIGTERM ends the process on the spot: no log
line, no clean-up, the work directory left behind. Inside `handling(step)` both signals log one
line naming the step and the signal, and raise `Stopped` where the code is, so the step's work
directory is removed and its output never committed. Code that can stop at a better point runs
inside `deferred(...)`: the signal only sets a flag it polls (`requested()`), e.g. a training loop
that saves a checkpoint first, and `Stopped` is raised when the block ends. A step run in a child
process is `forwarding(proc)`: the signal is passed on and the parent waits for the child.
A repeated signal while stopping is logged and otherwise ignored, so the clean-up is not cut short
(SIGKILL still ends everything at once).
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

log = logging.getLogger("hala_exp")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """A step stopped by a signal. A BaseException, like KeyboardInterrupt, so that no stage's
    `except Exception` swallows it."""

    def __init__(self, signum: int, step: str):
        super().__init__(signum, step)  # args: so it pickles
        self.signum, self.step = signum, step

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process its signal ended."""
        return 128 + self.signum

    def __str__(self) -> str:
        return f"{_where(self.step)} stopped by {self.signal_name}"


@dataclass
class _State:
    steps: list[str] = field(default_factory=list)  # innermost last; "" outside any step
    previous: dict[int, Any] = field(default_factory=dict)
    signum: int | None = None  # the signal being acted on
    deferred: list[str] = field(default_factory=list)  # what each deferring block does before it stops
    children: list[subprocess.Popen] = field(default_factory=list)
    requeuing: bool = False  # Slurm is requeuing this job: its SIGTERM is part of that


_state = _State()


def _step() -> str:
    """The innermost step being run, "" between steps."""
    return next((s for s in reversed(_state.steps) if s), "")


def _where(step: str) -> str:
    return f"step {step}" if step else "the run (between steps)"


def _handle(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _state.requeuing:
        log.info("%s while the job is requeued: left to the requeue", name)
        return
    if _state.signum is not None:
        log.warning("%s again while %s stops: ignored (SIGKILL ends it at once)", name, _where(_step()))
        return
    _state.signum = signum
    alive = [c for c in _state.children if c.poll() is None]
    for child in alive:
        _send(child, signum)
    if alive:
        what = f"passed on to its process {', '.join(str(c.pid) for c in alive)}, waiting for it"
    elif _state.deferred:
        what = _state.deferred[-1] + ", then stopping"
    else:
        what = "stopping now"
    log.warning("%s: received %s; %s", _where(_step()), name, what)
    if not alive and not _state.deferred:
        raise Stopped(signum, _step())


def _send(child: subprocess.Popen, signum: int) -> None:
    try:
        child.send_signal(signum)
    except (ProcessLookupError, OSError):
        pass  # it ended meanwhile


@contextmanager
def handling(step: str) -> Iterator[None]:
    """SIGTERM and SIGINT stop `step` cleanly inside the block (nests; the outermost installs the
    handlers and puts the previous ones back). Outside the main thread signals cannot be caught:
    the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outer = not _state.steps
    if outer:
        _state.previous = {s: signal.signal(s, _handle) for s in SIGNALS}
        _state.signum, _state.requeuing = None, False
    _state.steps.append(step)
    try:
        yield
    finally:
        _state.steps.pop()
        if outer:
            for s, previous in _state.previous.items():
                signal.signal(s, previous if previous is not None else signal.SIG_DFL)
            _state.previous, _state.signum, _state.requeuing = {}, None, False


def requested() -> int | None:
    """The signal that asked this process to stop, or None."""
    return _state.signum


def check() -> None:
    """Raise `Stopped` if a signal has asked to stop (for code that polls, and after a deferral)."""
    if _state.signum is not None and not any(c.poll() is None for c in _state.children):
        raise Stopped(_state.signum, _step())


@contextmanager
def deferred(what: str = "finishing what it is doing first") -> Iterator[None]:
    """Inside the block a stop signal only sets the flag (`requested()`); the code stops at its own
    safe point, and `Stopped` is raised once the block ends. `what` is said in the log line, e.g.
    "saving a checkpoint first"."""
    _state.deferred.append(what)
    try:
        yield
    finally:
        _state.deferred.pop()
    check()


@contextmanager
def forwarding(child: subprocess.Popen) -> Iterator[None]:
    """A stop signal goes on to `child`, whose output the caller keeps reading until it exits; the
    caller then calls `check()`. Should the block end another way while the child runs, the child
    is stopped and waited for, never left behind."""
    _state.children.append(child)
    try:
        yield
    finally:
        _state.children.remove(child)
        if child.poll() is None:
            _send(child, _state.signum or signal.SIGTERM)
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def requeuing() -> None:
    """This job is being requeued (its checkpoint was taken): the SIGTERM Slurm sends with the requeue
    is part of that, not a cancellation."""
    _state.requeuing = True
