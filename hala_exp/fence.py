"""A step writes into its partial folder and commits only while it still holds its lease.

A runner paused past the lease's stale time (a frozen node, a long NFS stall, SIGSTOP) has lost
its lease to the run that took it over and resumed from the same partial folder. When it wakes,
its heartbeat notices; but the step itself (a training loop, a sharded pass, maybe in another
process or on every rank) would go on writing checkpoints and shards into a folder it no longer
owns. So every write boundary calls `check()`: the lease's file still names this holder, or
`LeaseLost` is raised there, before the write. The places: each optimizer step
(`hala_exp.training.lease_check`), each shard (`hala_exp.shards`), and the commit
(`hala_exp.pipeline.execute`). The runner then waits for the new holder's output and reuses it
(`hala_exp.pipeline.dispatch`).

The lease travels to the step as a token in its spec (`LEASE`): the lease file, the holder's id and
the stale time. A holder whose own lease file has gone untouched longer than the stale time may be
in the middle of being taken over (a waiter decided it is gone an instant ago): it renews the file,
waits `SETTLE_S` and reads it again, so a take-over already decided shows before anything is written.
Nothing is fenced below that check: a write already under way when the process was paused finishes.
A neutral hook beside `stopping` and `progress`: training and shards call it, so it (and the lease
file's format, `read`) sits below them, not in the pipeline (`hala_exp.pipeline.lease` holds leases).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LEASE = "lease"  # spec field: {"path", "id", "stale_s"} of the lease the step runs under
SETTLE_S = 1.0  # a take-over decided before the holder renewed its lease is written well within this

_token: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("hala_lease", default=None)


def describe(holder: dict[str, Any]) -> str:
    job = f", Slurm job {holder['job']}" if holder.get("job") else ""
    return f"pid {holder.get('pid')} on {holder.get('host')}{job}"


def read(path: Path) -> tuple[dict[str, Any] | None, float | None]:
    """(the lease's owner record, its mtime); (None, None) when nobody holds it. A lease that
    cannot be read as JSON is a half-written one: its owner is unknown, its age still counts."""
    try:
        mtime = path.stat().st_mtime
        return json.loads(path.read_text(encoding="utf-8")), mtime
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError):
        try:
            return {}, path.stat().st_mtime
        except FileNotFoundError:
            return None, None


class LeaseLost(BaseException):
    """This process's step lost its lease: it stops before writing anything more. A BaseException,
    like `stopping.Stopped`, so no stage's `except Exception` goes on past it."""

    def __init__(self, lease: str, holder: dict[str, Any] | None):
        super().__init__(lease, holder)  # args: so it pickles
        self.lease, self.holder = lease, holder

    def __str__(self) -> str:
        now = f"now held by {describe(self.holder)}" if self.holder else "released by the run that took it over"
        return f"lease {Path(self.lease).name} lost ({now}): stopped before writing more"


@contextlib.contextmanager
def guarding(token: dict[str, Any] | None) -> Iterator[None]:
    """`check()` inside the block tests `token` (None: nothing to test, e.g. a step run by hand)."""
    reset = _token.set(token)
    try:
        yield
    finally:
        _token.reset(reset)


def lost(token: dict[str, Any] | None = None) -> LeaseLost | None:
    """Why the lease is no longer this holder's (without raising), or None while it still is."""
    token = token if token is not None else _token.get()
    if not token:
        return None
    path = Path(token["path"])
    holder, mtime = read(path)
    if holder is None or holder.get("id") != token["id"]:
        return LeaseLost(str(path), holder)
    if mtime is not None and time.time() - mtime > float(token["stale_s"]):
        # Silent long enough to look gone: renew, then look again once a take-over would show.
        with contextlib.suppress(OSError):
            os.utime(path)
        time.sleep(SETTLE_S)
        holder, _ = read(path)
        if holder is None or holder.get("id") != token["id"]:
            return LeaseLost(str(path), holder)
    return None


def check(token: dict[str, Any] | None = None) -> None:
    """Raise `LeaseLost` when the step being run (or `token`'s holder) no longer holds its lease:
    called at a write boundary."""
    e = lost(token)
    if e is not None:
        raise e
