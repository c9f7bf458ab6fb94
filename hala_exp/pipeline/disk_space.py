"""Room in the store: what the planned steps will write, and a step that failed for want of it.

A full filesystem shows up deep inside whichever library was writing: torch's zip writer says
`unexpected pos 5312 vs 5204`, safetensors or pyarrow say something else, and only some of them
keep `OSError(ENOSPC)` in the cause chain. So a failed step is called a full disk when ENOSPC is in
its cause chain, or when its filesystem is found (nearly) full right after the failure, before its
work directory is removed (which frees the space again). The message names the filesystem, its
free space and what the step was expected to write.

The expected sizes are the Plan's (`Step.writes`, estimated by `hala_exp.stages.sizes`); steps of
unknown size count as nothing.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

FULL_BELOW_BYTES = 64 * 2**20  # free space under which a filesystem counts as full after a failure...
FULL_BELOW_SHARE = 0.02  # ...or under this share of its size, whichever is smaller
MARK = "hala-exp disk full: "  # a step process's log line carrying the message to its runner
EXIT = 74  # EX_IOERR: the step process's status when its filesystem filled


class DiskFull(RuntimeError):
    """A step failed because its filesystem is full. Its message is the whole report (the console
    shows it alone, as it does an input error)."""


@dataclass(frozen=True)
class Room:
    mount: str  # the filesystem's mount point
    free: int
    total: int


def room(path: str | Path) -> Room:
    """Free and total bytes of the filesystem `path` is (or would be) on."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    usage = shutil.disk_usage(p)
    mount = p.resolve()
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    return Room(str(mount), usage.free, usage.total)


def size(n: float) -> str:
    """Bytes as people read them: 1.2 GB, 340 MB, 12 kB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def space_warning(store: str | Path, sizes: list[int]) -> str | None:
    """A warning when the store's filesystem has less free space than the steps that will run, those
    of known size (their `Step.writes`), are expected to write; None when it has room."""
    need = sum(sizes)
    if need == 0:
        return None
    r = room(store)
    if r.free >= need:
        return None
    return (f"store {store} is on {r.mount} with {size(r.free)} free, but the {len(sizes)} steps to run whose "
            f"size is known are expected to write about {size(need)}: the run will likely stop with a full disk. "
            "Fix: free space there, or set store= (or HALA_STORE) to a larger filesystem")


def _no_space_in(e: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def diagnose(e: BaseException, store: str | Path, step: str, expected: int | None,
             work: str | Path | None = None) -> DiskFull | None:
    """The failure `e` of `step` as a full disk (ENOSPC in its causes, or the filesystem of its work
    directory, else of the store, full now), else None. Call it before the work directory is removed."""
    if not isinstance(e, Exception):  # a stop signal or a lost lease: not a write that failed
        return None
    r = room(work or store)
    full_now = r.free < min(FULL_BELOW_BYTES, FULL_BELOW_SHARE * r.total)
    if not (_no_space_in(e) or full_now):
        return None
    wanted = f"it was expected to write about {size(expected)}" if expected else "its size was not known ahead"
    said = (str(e).splitlines() or [""])[0][:200]
    return DiskFull(f"step {step}: the filesystem {r.mount} (store {store}) is full: {size(r.free)} free of "
                    f"{size(r.total)} when it failed ({type(e).__name__}: {said}); {wanted}. Nothing was "
                    f"committed. Fix: free space on {r.mount} (or move the store: store=/larger/fs) and run "
                    "the same command again: complete steps are reused")


def from_log(tail: list[str]) -> DiskFull | None:
    """The DiskFull a step process reported in its log (`MARK`), or None."""
    for line in tail:
        _, mark, message = line.partition(MARK)
        if mark:
            return DiskFull(message)
    return None
