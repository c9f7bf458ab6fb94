"""One runner per step key: a lease file taken before a step runs, kept alive by a heartbeat.

Sweep points that share upstream steps start together, and two runs on one store are the normal
case on a cluster: without a lease both compute the shared steps, and one run's commit deletes
the partial folder (finished shards, checkpoints) the other is still writing. With it, the second
process waits for the holder and then reuses its output, or takes the lease over when the holder
is gone: a dead process on this host, an earlier attempt of the same Slurm job (a requeue), or a
heartbeat older than `stale_s` on any host. The lease lives in the store
(`<store>/.leases/<step>-<key>.json`), so it works across Slurm jobs on a shared filesystem; it
is created with O_EXCL, which NFS v3 and later honour. The partial folder belongs to whoever holds
the lease. Two waiters that find the same stale lease at the same instant can, rarely, both take
it over; the store's atomic commit keeps that to a step computed twice, never a broken output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hala_exp.fence import describe, read

log = logging.getLogger("hala_exp")
LEASES = ".leases"
HEARTBEAT_S = 10.0  # how often the holder touches its lease
STALE_S = 120.0  # a lease untouched this long (by the waiter's own watch) has lost its holder
POLL_S = 1.0  # how often a waiter looks again
# Environment settings for both (seconds): a filesystem with longer stalls needs a longer stale time,
# and the tests a shorter one. Every run on one store should use the same.
STALE_ENV, HEARTBEAT_ENV = "HALA_LEASE_STALE_S", "HALA_LEASE_HEARTBEAT_S"


def seconds(env: str, default: float) -> float:
    """The positive number of seconds `env` sets, else `default`; ValueError naming the variable."""
    text = os.environ.get(env)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"{env} = {text!r}: must be a positive number of seconds (default {default:g}). Fix: "
                         f"unset it or set e.g. {env}={default:g}")
    return value


def _owner() -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid(),
            "job": os.environ.get("SLURM_JOB_ID"), "since": time.time()}


def _pid_gone(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """The lease of one step key; `acquire` waits for it, `release` gives it back."""

    def __init__(self, root: str | Path, name: str, key: str, heartbeat_s: float | None = None,
                 stale_s: float | None = None, poll_s: float = POLL_S):
        self.path = Path(root) / LEASES / f"{name}-{key}.json"
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else seconds(HEARTBEAT_ENV, HEARTBEAT_S)
        self.stale_s = stale_s if stale_s is not None else seconds(STALE_ENV, STALE_S)
        self.poll_s = poll_s
        self.owner = _owner()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._seen: tuple[float, float] | None = None  # (lease mtime, when this process first saw it)

    def holder(self) -> tuple[dict[str, Any] | None, float | None]:
        return read(self.path)

    def _create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.owner, f)
        return True

    def stale(self, holder: dict[str, Any], mtime: float) -> bool:
        """Whether the holder is gone: dead on this host, an earlier attempt of this Slurm job, or silent."""
        me = self.owner
        if holder.get("host") == me["host"] and _pid_gone(holder.get("pid")):
            return True
        if holder.get("job") and holder.get("job") == me["job"] and holder.get("pid") != me["pid"]:
            return True  # this job was requeued: the lease is its own earlier attempt's
        now = time.time()
        if self._seen is None or self._seen[0] != mtime:
            self._seen = (mtime, now)  # the heartbeat moved: watch again from now (immune to clock skew)
        return now - self._seen[1] > self.stale_s or now - mtime > self.stale_s + 2 * self.heartbeat_s

    def _take_over(self, holder: dict[str, Any]) -> bool:
        again, _ = self.holder()
        if again is None or again.get("id") != holder.get("id"):
            return False  # released or taken meanwhile: go round again
        tmp = self.path.with_name(f".{self.path.name}.{self.owner['id']}.tmp")
        tmp.write_text(json.dumps(self.owner), encoding="utf-8")
        os.replace(tmp, self.path)
        time.sleep(min(0.2, self.poll_s))
        mine, _ = self.holder()
        return mine is not None and mine.get("id") == self.owner["id"]

    def acquire(self, on_wait: Callable[[dict[str, Any]], None] | None = None,
                done: Callable[[], bool] | None = None) -> bool:
        """Hold the lease, waiting while another live process does. Returns False without taking
        it when `done()` turns true while waiting (the holder committed the step)."""
        told = False
        while True:
            if self._create():
                break
            holder, mtime = self.holder()
            if holder is None:
                continue  # released between the two looks
            if self.stale(holder, mtime):
                if self._take_over(holder):
                    log.warning("lease  %s: taken over from %s (gone)", self.path.name, describe(holder))
                    break
                continue
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            if done is not None and done():
                return False
            time.sleep(self.poll_s)
        self._beat = threading.Thread(target=self._heartbeat, name=f"lease-{self.path.name}", daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            holder, _ = self.holder()
            if holder is None or holder.get("id") != self.owner["id"]:
                log.warning("lease  %s: lost to %s; the step stops at its next write (hala_exp.fence)",
                            self.path.name, describe(holder or {}))
                return
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def token(self) -> dict[str, Any]:
        """What a step needs to test, at each write, that this lease is still its own (`fence`)."""
        return {"path": str(self.path), "id": self.owner["id"], "stale_s": self.stale_s}

    def taken_by(self) -> dict[str, Any] | None:
        """Who holds the lease instead of this process ({} once released by them), or None while it is ours."""
        holder, _ = self.holder()
        if holder is not None and holder.get("id") == self.owner["id"]:
            return None
        return holder or {}

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        holder, _ = self.holder()
        if holder is not None and holder.get("id") == self.owner["id"]:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


@contextlib.contextmanager
def held(root: str | Path, name: str, key: str, done: Callable[[], bool],
         on_wait: Callable[[dict[str, Any]], None] | None = None) -> Iterator[Lease | None]:
    """`with held(...) as lease:` the Lease once this process holds it (then it runs the step), None
    when the holder it waited for completed the step (then it reuses the output)."""
    lease = Lease(root, name, key)
    mine = lease.acquire(on_wait, done)
    try:
        yield lease if mine else None
    finally:
        if mine:
            lease.release()


def holder_of(root: str | Path, name: str, key: str) -> dict[str, Any] | None:
    """Who holds the step's lease right now (for `plan`), or None."""
    holder, _ = Lease(root, name, key).holder()
    return holder
