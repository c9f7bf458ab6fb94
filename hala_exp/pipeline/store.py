"""Content-keyed artifact store with atomic commits and checked reuse.

A stage writes into `<store>/.tmp/<stage>-<key>-<host>-<pid>-<rand>/`, which holds an `.owner` file
(host and pid: names alone cannot be split when host names hold dashes, as `gpu-node-01` does);
when it returns, its completion record goes in last and the directory is renamed to
`<store>/<stage>/<key>/`. A directory there is complete by construction; a crash or kill leaves only
a `.tmp` entry, which is never read and is swept once its process is gone. Two processes racing on
one key both compute; the first rename wins.

The record lists every file of the output with its size and xxh3-128 (`files`), hashed at commit.
An output is reused only while every listed file is there with its size (a stat each); its hashes
are checked on request (`check(..., hashes=True)`: `hala-exp-verify`, and the runner before a step
reads a reused output). A missing or changed file, or a record that cannot be read, makes the entry
broken: `reuse` moves it to `<store>/.broken/<stage>-<key>-<time>/` (with `broken.txt` saying why),
never deleting it, and the step runs again. Records written before file lists existed are reused
as they are (nothing to check them against).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hala_exp.pipeline.manifest import Problem, check_files, list_files, valid_list

RECORD = "record.json"
OWNER = ".owner"  # {"host", "pid"} of the process writing a work directory
FILES = "files"  # the record's file list: {relative path: {"size", "xxh3_128"}}
BROKEN = ".broken"  # entries found broken, moved aside: <stage>-<key>-<time>/
WHY = "broken.txt"  # in a moved entry: what was wrong with it

log = logging.getLogger("hala_exp")


@dataclass(frozen=True)
class SetAside:
    """A broken entry found at reuse: what was wrong, and where it went."""

    problem: Problem
    moved_to: Path | None  # None: another process moved it first


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.tmp = self.root / ".tmp"

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def partial(self, stage: str, key: str) -> Path:
        """Resumable state of an unfinished step (finished shards, checkpoints); survives kills and requeues."""
        return self.root / ".partial" / f"{stage}-{key}"

    def _load(self, stage: str, key: str) -> tuple[dict[str, Any] | None, Problem | None]:
        """(record, None) when the entry's record reads as one, (None, problem) when it does not,
        (None, None) when there is no entry."""
        d = self.path(stage, key)
        if not d.is_dir():
            return None, None
        try:
            text = (d / RECORD).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None, Problem(d, RECORD, "missing: the directory has no completion record")
        except (OSError, UnicodeDecodeError) as e:
            return None, Problem(d, RECORD, f"unreadable ({type(e).__name__}: {e})")
        try:
            record = json.loads(text)
        except ValueError as e:
            return None, Problem(d, RECORD, f"not valid JSON ({e})")
        if not isinstance(record, dict):
            return None, Problem(d, RECORD, f"not a JSON object but {type(record).__name__}")
        if FILES in record and not valid_list(record[FILES]):
            return None, Problem(d, RECORD, f"its file list ({FILES!r}) is malformed")
        return record, None

    def check(self, stage: str, key: str, hashes: bool = False) -> Problem | None:
        """What makes this entry broken (record, a listed file's presence and size, with `hashes` its
        content), or None when it is sound, absent, or a record without a file list."""
        record, problem = self._load(stage, key)
        if record is None or FILES not in record:
            return problem
        return check_files(self.path(stage, key), record[FILES], hashes)

    def record(self, stage: str, key: str) -> dict[str, Any] | None:
        """The completion record if this output is complete and its files have their sizes, else None.
        Read-only: a broken entry stays where it is (see `reuse`)."""
        record, problem = self._load(stage, key)
        if record is None or (FILES in record and check_files(self.path(stage, key), record[FILES])):
            return None
        return record

    def records_of(self, stage: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, record) of every committed output of `stage` whose record reads; broken ones skipped."""
        folder = self.root / stage
        if not folder.is_dir():
            return []
        found = []
        for d in sorted(folder.iterdir()):
            record, _ = self._load(stage, d.name) if d.is_dir() else (None, None)
            if record is not None:
                found.append((d.name, record))
        return found

    def reuse(self, stage: str, key: str, hashes: bool = False) -> tuple[dict[str, Any] | None, SetAside | None]:
        """(record, None) for a sound output; a broken one is moved aside and (None, what happened)
        returned, so the step runs again; (None, None) when there is none."""
        record, problem = self._load(stage, key)
        if record is not None and FILES in record:
            problem = check_files(self.path(stage, key), record[FILES], hashes)
        if problem is None:
            return record, None
        return None, SetAside(problem, self.set_aside(stage, key, problem))

    def set_aside(self, stage: str, key: str, problem: Problem) -> Path | None:
        """Move a broken entry to `<store>/.broken/`, never deleting it; None if it is gone already."""
        when = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        dest = self.root / BROKEN / f"{stage}-{key}-{when}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self.path(stage, key), dest)
        except FileNotFoundError:
            return None  # another process moved it (and is running the step) first
        (dest / WHY).write_text(f"{problem}\n", encoding="utf-8")
        log.warning("store: %s %s is broken: %s; moved to %s, the step runs again", stage, key, problem, dest)
        return dest

    def entries(self) -> list[tuple[str, str]]:
        """(stage, key) of every entry in the store (the dot-directories are its own bookkeeping)."""
        if not self.root.is_dir():
            return []
        return [(s.name, k.name) for s in sorted(self.root.iterdir()) if s.is_dir() and not s.name.startswith(".")
                for k in sorted(s.iterdir()) if k.is_dir()]

    def begin(self, stage: str, key: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        host, pid = socket.gethostname(), os.getpid()
        d = self.tmp / f"{stage}-{key}-{host}-{pid}-{uuid.uuid4().hex[:6]}"
        d.mkdir()
        (d / OWNER).write_text(json.dumps({"host": host, "pid": pid}), encoding="utf-8")
        return d

    def commit(self, work: Path, stage: str, key: str, record: dict[str, Any]) -> Path:
        """List and hash every file, write the record (with that list) last, then move the directory
        into place in one rename."""
        (work / OWNER).unlink(missing_ok=True)
        listed = {**record, FILES: list_files(work, skip=frozenset({RECORD}))}
        (work / RECORD).write_text(json.dumps(listed, ensure_ascii=False, indent=2, sort_keys=True),
                                   encoding="utf-8")
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, final)
        except OSError:
            if self.record(stage, key) is None:  # not a lost race: something else is wrong
                raise
            shutil.rmtree(work, ignore_errors=True)  # another process committed the same key first
        shutil.rmtree(self.partial(stage, key), ignore_errors=True)  # complete: nothing to resume
        return final

    def abort(self, work: Path) -> None:
        shutil.rmtree(work, ignore_errors=True)

    def sweep_stale(self) -> int:
        """Remove work directories left by processes on this host that no longer exist."""
        if not self.tmp.is_dir():
            return 0
        host = socket.gethostname()
        removed = 0
        for d in self.tmp.iterdir():
            try:
                owner = json.loads((d / OWNER).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # not a work directory this store made: never removed unattributed
            if owner.get("host") != host or not isinstance(owner.get("pid"), int):
                continue
            try:
                os.kill(owner["pid"], 0)
            except ProcessLookupError:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
            except PermissionError:
                pass
        return removed
