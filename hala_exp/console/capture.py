"""Send everything a block writes to stdout and stderr into a log file, at the file-descriptor level.

Replacing `sys.stdout` would miss what libraries write on their own: C extensions, loguru and
logging handlers holding the original stream, tqdm, child processes inheriting the descriptors.
`os.dup2` of the log file onto fds 1 and 2 catches all of it; the previous descriptors are restored
on the way out, also when the block raises (the exception propagates unchanged). Nests.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FDS = (1, 2)


def _flush() -> None:
    """Push buffered writes (Python's and C stdio's) to the descriptor they were meant for."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


def can_capture() -> bool:
    """True when fds 1 and 2 are open and sys.stdout has a descriptor (not so under some daemons
    and test harnesses, which then get every line as it is written)."""
    try:
        sys.stdout.fileno()
        for fd in FDS:
            os.fstat(fd)
    except (OSError, ValueError, AttributeError):
        return False
    return True


@contextmanager
def redirect_output(log_file: Path) -> Iterator[None]:
    """Inside the block, fds 1 and 2 append to `log_file` (created with its folder)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    _flush()
    target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = [os.dup(fd) for fd in FDS]
    try:
        for fd in FDS:
            os.dup2(target, fd)
        yield
    finally:
        _flush()
        for fd, old in zip(FDS, saved):
            os.dup2(old, fd)
            os.close(old)
        os.close(target)
