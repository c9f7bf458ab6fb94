"""Content-keyed artifact store with atomic commits.

A stage writes into `<store>/.tmp/<stage>-<key>-<host>-<pid>-<rand>/`, which holds an `.owner` file
(host and pid: names alone cannot be split when host names hold dashes, as `gpu-node-01` does);
when it returns, its completion record goes in last and the directory is renamed to
`<store>/<stage>/<key>/`. A directory there is complete by construction; a crash or kill leaves only
a `.tmp` entry, which is never read and is swept once its process is gone. Two processes racing on
one key both compute; the first rename wins.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

RECORD = "record.json"
OWNER = ".owner"  # {"host", "pid"} of the process writing a work directory


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.tmp = self.root / ".tmp"

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def partial(self, stage: str, key: str) -> Path:
        """Resumable state of an unfinished step (finished shards, checkpoints); survives kills and requeues."""
        return self.root / ".partial" / f"{stage}-{key}"

    def record(self, stage: str, key: str) -> dict[str, Any] | None:
        """The completion record if this output is complete, else None."""
        f = self.path(stage, key) / RECORD
        if not f.is_file():
            return None
        return json.loads(f.read_text(encoding="utf-8"))

    def begin(self, stage: str, key: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        host, pid = socket.gethostname(), os.getpid()
        d = self.tmp / f"{stage}-{key}-{host}-{pid}-{uuid.uuid4().hex[:6]}"
        d.mkdir()
        (d / OWNER).write_text(json.dumps({"host": host, "pid": pid}), encoding="utf-8")
        return d

    def commit(self, work: Path, stage: str, key: str, record: dict[str, Any]) -> Path:
        """Write the record last, then move the directory into place in one rename."""
        (work / OWNER).unlink(missing_ok=True)
        (work / RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True),
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
