"""Where a running step may keep state that must survive its process: checkpoints to resume from.

`execute` points this at `<store>/.partial/<step>-<key>/` while the step runs and deletes it once
the output is committed. A requeued or restarted job of the same key finds it again; a stage called
outside `execute` gets None and keeps no state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_PARTIAL: ContextVar[Path | None] = ContextVar("hala_partial_dir", default=None)


def partial_dir() -> Path | None:
    """The current step's persistent directory for resumable state, or None outside a step."""
    return _PARTIAL.get()


@contextmanager
def partial_scope(path: Path) -> Iterator[Path]:
    token = _PARTIAL.set(path)
    try:
        yield path
    finally:
        _PARTIAL.reset(token)
