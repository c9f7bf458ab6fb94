"""`hala-exp-verify [STORE | RUN_DIR ...]`: hash every stored output and report the broken ones.

    hala-exp-verify                       # the store of `store=` / HALA_STORE (outputs/cache)
    hala-exp-verify outputs/runs/<run>    # only the steps of that run (results.json or jobs.json)
    hala-exp-verify --set-aside STORE     # also move broken entries to <store>/.broken/

A run checks only sizes before reusing an output (and hashes what a running step reads); this reads
every listed file, so it also finds a change that kept a file's size. Exit status 1 when an entry is
broken. Entries written before records listed their files are reported as `legacy` (not checkable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hala_exp.pipeline.store import FILES, Store


def _targets(path: Path) -> tuple[Store, list[tuple[str, str]]]:
    """The store and its (stage, key) entries to check: all of a store, or the steps of a run."""
    for name in ("results.json", "jobs.json"):
        f = path / name
        if f.is_file():
            data = json.loads(f.read_text(encoding="utf-8"))
            steps = data.get("stages") or data.get("steps") or {}
            run = path / "run.json"
            root = data.get("store") or (json.loads(run.read_text(encoding="utf-8")).get("store")
                                         if run.is_file() else None)
            if root is None:  # results.json's entries carry their directories: <store>/<stage>/<key>
                root = str(Path(next(iter(steps.values()))["dir"]).parent.parent) if steps else str(path)
            return Store(root), [(n, e["key"]) for n, e in steps.items()]
    return Store(path), Store(path).entries()


def verify(path: Path, set_aside: bool = False, out=sys.stdout) -> int:
    """Check every entry under `path`; print one line per entry; return how many are broken."""
    store, entries = _targets(path)
    broken = legacy = absent = 0
    hashed = 0
    started = time.time()
    for stage, key in entries:
        name = f"{stage}/{key}"
        problem = store.check(stage, key, hashes=True)
        if problem is not None:
            broken += 1
            where = ""
            if set_aside:
                moved = store.set_aside(stage, key, problem)
                where = f" -> moved to {moved}" if moved else ""
            print(f"BROKEN  {name}  {problem}{where}", file=out)
            continue
        record = store.record(stage, key)
        if record is None:
            absent += 1
            print(f"absent  {name}", file=out)
        elif FILES not in record:
            legacy += 1
            print(f"legacy  {name}  no file list (written before records listed files): not checked", file=out)
        else:
            size = sum(f["size"] for f in record[FILES].values())
            hashed += size
            print(f"ok      {name}  {len(record[FILES])} files, {size:,} bytes", file=out)
    seconds = time.time() - started
    ok = len(entries) - broken - legacy - absent
    print(f"{store.root}: {len(entries)} entries, {ok} ok, {broken} broken, {legacy} legacy, {absent} absent; "
          f"{hashed:,} bytes hashed in {seconds:.1f} s", file=out)
    return broken


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hala-exp-verify", description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", type=Path,
                    help="stores or run directories (default: $HALA_STORE or outputs/cache)")
    ap.add_argument("--set-aside", action="store_true",
                    help="move broken entries to <store>/.broken/ so the next run redoes them")
    args = ap.parse_args(argv)
    paths = args.paths or [Path(os.environ.get("HALA_STORE", "outputs/cache"))]
    missing = [p for p in paths if not p.is_dir()]
    if missing:
        print(f"hala-exp-verify: not a directory: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    broken = sum(verify(p, args.set_aside) for p in paths)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
