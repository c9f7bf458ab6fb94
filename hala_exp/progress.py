"""Progress of long loops (rows translated, training steps) for the console's live bar.

A neutral hook, not a display: a loop opens a task (`track` or `start`) and advances it; whoever
listens (the console of `hala-exp`, or, in a step run as a subprocess, a writer of marker lines
that the parent reads back from the child's output) gets a snapshot of every open task, outermost
first. With no listener it costs a list append, so stages and engines report unconditionally.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

Snapshot = list[dict[str, Any]]
Listener = Callable[[Snapshot], None]
# A line holding this marker carries a JSON snapshot from a step run in another process.
MARKER = "\x1ehala-progress "
ENV = "HALA_PROGRESS_LINES"  # set for a child whose progress the parent reads back

_tasks: list[Task] = []
_base = 0  # index in _tasks of the first task the current listener sees
_listener: Listener | None = None


class Task:
    """One loop: `done` of `total` `unit`s. `pending` is the part an inner task is working on (a
    shard), so the outer bar moves with the inner one instead of jumping once per shard."""

    def __init__(self, total: float, unit: str, desc: str, initial: float = 0.0):
        self.total, self.unit, self.desc = float(total), unit, desc
        self.done = self.initial = float(initial)
        self.pending = 0.0
        self.started = time.monotonic()

    def update(self, done: float) -> None:
        self.done = float(done)
        _emit()

    def advance(self, n: float = 1.0) -> None:
        self.pending = 0.0
        self.update(self.done + n)

    def working_on(self, n: float) -> None:
        self.pending = float(n)

    def close(self) -> None:
        if self in _tasks:
            _tasks.remove(self)
            _emit()

    def snapshot(self) -> dict[str, Any]:
        return {"desc": self.desc, "unit": self.unit, "total": self.total, "done": self.done,
                "initial": self.initial, "pending": self.pending,
                "elapsed": time.monotonic() - self.started}


def start(total: float, unit: str, desc: str = "", initial: float = 0.0) -> Task:
    """Open a task (close it with `Task.close`); for loops that cannot use `track`, e.g. callbacks."""
    task = Task(total, unit, desc, initial)
    _tasks.append(task)
    _emit()
    return task


@contextmanager
def track(total: float, unit: str, desc: str = "") -> Iterator[Task]:
    task = start(total, unit, desc)
    try:
        yield task
    finally:
        task.close()


def snapshot() -> Snapshot:
    """The tasks open in the innermost `listening` block (all open tasks outside one)."""
    return [t.snapshot() for t in _tasks[_base:]]


def _emit() -> None:
    if _listener is not None:
        _listener(snapshot())


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every change of the open tasks to `listener` while the block runs. Tasks the block left
    open (a loop that raised, a trainer that never reached on_train_end) are dropped at its end."""
    global _listener, _base
    previous, _listener, opened, outer = _listener, listener, len(_tasks), _base
    _base = opened  # a task left open before the block (a call that raised without a listener) is not shown
    try:
        yield
    finally:
        _listener, _base = previous, outer
        del _tasks[opened:]


def line_writer(stream: TextIO, every_s: float = 0.5) -> Listener:
    """A listener for a child process: a marker line on `stream` at most every `every_s` seconds,
    and always when a task opens or closes."""
    last = {"t": 0.0, "n": -1}

    def write(snap: Snapshot) -> None:
        now = time.monotonic()
        if len(snap) == last["n"] and now - last["t"] < every_s:
            return
        last.update(t=now, n=len(snap))
        stream.write(MARKER + json.dumps(snap) + "\n")
        stream.flush()

    return write


def parse_line(line: str) -> tuple[str, Snapshot | None]:
    """(the line's own text, the snapshot it carries or None)."""
    text, marker, payload = line.partition(MARKER)
    if not marker:
        return line, None
    try:
        return text, json.loads(payload)
    except json.JSONDecodeError:
        return line, None
