"""Checks of where a run writes: the store, and the run (or sweep) directory.

Both must be directories this process can write in, or be creatable as such; the answer is found
by writing (and removing) an empty probe file in the directory, or in its nearest existing parent
when it is not there yet, so permissions, read-only mounts and a file in the way are all seen,
whoever runs the command (root included). The store is checked with the config's values
(`validate`), before any step; the run directory before Hydra makes it (`before_launch`, a Hydra
callback named in `conf/config.yaml`), since Hydra writes `.hydra/` there before the app starts.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from hala_exp.config.errors import fail


def writable_dir_problem(path: Path) -> tuple[str, str] | None:
    """(problem, fix) when `path` is not, and cannot be made, a directory this process writes in."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"cannot be made: {existing} is a file"
        return (f"{path} {where}, and a directory is expected here",
                "point it at a directory (or a path that can be created), or move the file out of the way")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".hala-exp-write-probe-")
    except OSError as e:
        what = "cannot be written in" if existing == path else f"cannot be created: {existing} cannot be written in"
        if e.errno == errno.EROFS:
            return (f"{path} {what} ({e.strerror})",
                    "it is on a read-only filesystem: point it at a directory on a writable one")
        return (f"{path} {what} ({e.strerror})",
                f"point it at a directory you can write in, or make it writable (e.g. `chmod u+w {existing}`)")
    os.close(fd)
    os.unlink(probe)
    return None


def check_writable_dir(key: str, value: str) -> None:
    problem = writable_dir_problem(Path(value).expanduser().absolute())
    if problem:
        fail(key, value, *problem)
