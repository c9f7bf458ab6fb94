"""Work through rows in fixed-size shards, each committed on its own, so a kill costs one shard.

Shard i holds rows [i*size, (i+1)*size) of the input order. It is written next to its final name
and renamed into place (`shard-00000.jsonl`), with its metrics alongside, so a shard file that
exists is complete. A restart skips every shard already there (after checking it holds exactly the
ids it should) and the concatenation keeps the input order: every id once, none lost.

After each shard the pass's running totals go to `hala_exp.stage_records` (at the rows done,
which continue across a restart), so a long pass is a live curve wherever the step is recorded.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hala_exp import fence, progress, stage_records
from hala_exp.json_files import read_jsonl, replace_text

Rows = list[dict[str, Any]]
ShardFn = Callable[[Rows], tuple[Rows, dict[str, float]]]
Totals = Callable[[list[dict[str, float]]], dict[str, float]]


def summed(shards: list[dict[str, float]]) -> dict[str, float]:
    """Every count of the shards summed (rates left out), plus tokens per second of generation."""
    out: dict[str, float] = {}
    for m in shards:
        for k, v in m.items():
            if not k.endswith("_per_s"):
                out[k] = out.get(k, 0.0) + float(v)
    if out.get("tokens") and out.get("seconds"):
        out["tokens_per_s"] = out["tokens"] / out["seconds"]
    return out


def report_shard(desc: str, shards: list[dict[str, float]], shard_rows: int, rows_done: int, rows_total: int,
                 totals: Totals) -> None:
    """The pass so far (`totals` over the shards done) and the last shard's own rates, at step `rows_done`."""
    last = shards[-1]
    metrics = {**totals(shards), "rows_done": float(rows_done), "rows_total": float(rows_total),
               "shards_done": float(len(shards))}
    if last.get("seconds"):
        metrics["shard_rows_per_s"] = shard_rows / last["seconds"]
        if "tokens" in last:
            metrics["shard_tokens_per_s"] = last["tokens"] / last["seconds"]
    stage_records.log({f"{desc}/{k}": v for k, v in metrics.items()}, step=rows_done, axis=f"{desc}/rows_done")


PLAN = "plan.json"  # in the shards folder: {"shards", "rows", "shard_rows"}, for status and resubmission


@dataclass(frozen=True)
class Role:
    """Which part of a sharded pass this process does: all of it (default), worker `worker` of
    `workers`, or the gather (every shard must be there already)."""

    worker: int | None = None
    workers: int = 1
    gather: bool = False

    def mine(self, index: int) -> bool:
        return self.worker is None or index % self.workers == self.worker


class WorkerDone(Exception):
    """A worker has committed all of its shards; the stage stops there (the gather writes the output)."""

    def __init__(self, ran: int, shards: int):
        super().__init__(f"worker finished: ran {ran} of its shards ({shards} in the pass)")
        self.ran, self.shards = ran, shards


class ShardsMissing(RuntimeError):
    """The gather found shards that no worker has committed (or that hold other ids)."""


_ROLE: contextvars.ContextVar[Role] = contextvars.ContextVar("hala_shard_role", default=Role())


ROLE = "shards_role"  # spec field: {"worker": i, "workers": W} or {"gather": true, "workers": W}


def role_of(spec: dict[str, Any]) -> Role:
    """A step spec's shard role (`hala_exp.pipeline.fanout`): a worker, the gather, or neither."""
    r = spec.get(ROLE) or {}
    return Role(worker=r.get("worker"), workers=int(r.get("workers", 1)), gather=bool(r.get("gather")))


def current_role() -> Role:
    """The role the sharded passes of this context run as (all of the pass, by default)."""
    return _ROLE.get()


@contextlib.contextmanager
def assigned(role: Role) -> Iterator[None]:
    """Run the sharded passes inside as `role`."""
    token = _ROLE.set(role)
    try:
        yield
    finally:
        _ROLE.reset(token)


def write_plan(shards_dir: Path, shards: int, rows: int, size: int) -> None:
    """Record the pass's size once (first writer wins; every worker computes the same numbers)."""
    path = shards_dir / PLAN
    if not path.is_file():
        replace_text(path, json.dumps({"shards": shards, "rows": rows, "shard_rows": size}))


def read_plan(shards_dir: str | Path) -> dict[str, int] | None:
    try:
        return json.loads((Path(shards_dir) / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def done_shards(shards_dir: str | Path) -> list[int]:
    """Indices of the shards whose rows file is in place (complete by construction)."""
    d = Path(shards_dir)
    return sorted(int(p.name[6:11]) for p in d.glob("shard-[0-9][0-9][0-9][0-9][0-9].jsonl")) if d.is_dir() else []


def _done(path: Path, ids: list[Any], id_of: Callable[[dict], Any]) -> Rows | None:
    """The shard's rows when it is there and holds exactly `ids` in order, else None (redo it)."""
    if not path.is_file():
        return None
    rows = read_jsonl(path)
    return rows if [id_of(r) for r in rows] == ids else None


def run_sharded(rows: Rows, size: int, shards_dir: str | Path, fn: ShardFn, *,
                id_of: Callable[[dict], Any] = lambda r: r["id"], desc: str = "rows", totals: Totals = summed
                ) -> tuple[Rows, list[dict[str, float]], int]:
    """Apply `fn` to each missing shard of `rows`; return (all output rows, per-shard metrics, shards run).

    `fn` maps a shard's rows to (output rows with the same ids in the same order, metrics); its
    metrics get `seconds` added. `fn` is only called for shards that are not done yet, so a caller
    can open its model lazily on the first call. `totals` turns the metrics of the shards done so
    far into the pass's running numbers, reported after every shard as `<desc>/<name>`.
    """
    from tqdm.auto import tqdm

    if size <= 0:
        raise ValueError(f"shard size must be positive, got {size}")
    ids = [id_of(r) for r in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"row ids must be unique to shard and resume; {dup!r} appears more than once")
    shards_dir = Path(shards_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    role = _ROLE.get()
    total = -(-len(rows) // size)
    write_plan(shards_dir, total, len(rows), size)
    missing: list[int] = []
    out: Rows = []
    metrics: list[dict[str, float]] = []
    ran = 0
    tokens = seconds = 0.0
    with tqdm(total=len(rows), desc=desc, unit="row", mininterval=1.0) as bar, \
            progress.track(len(rows), "rows", desc) as task:
        for index, start in enumerate(range(0, len(rows), size)):
            chunk = rows[start:start + size]
            if not role.mine(index):  # another worker's
                bar.update(len(chunk))
                task.advance(len(chunk))
                continue
            task.working_on(len(chunk))
            path = shards_dir / f"shard-{index:05d}.jsonl"
            meta = shards_dir / f"shard-{index:05d}.json"
            done = _done(path, ids[start:start + size], id_of)
            if done is not None and meta.is_file():
                shard_rows, shard_metrics = done, json.loads(meta.read_text(encoding="utf-8"))
            elif role.gather:
                missing.append(index)
                continue
            else:
                began = time.perf_counter()
                shard_rows, shard_metrics = fn(chunk)
                shard_metrics = {**shard_metrics, "seconds": time.perf_counter() - began}
                got = [id_of(r) for r in shard_rows]
                if got != ids[start:start + size]:
                    raise RuntimeError(f"shard {index}: the function returned ids {got[:5]}..., "
                                       f"expected {ids[start:start + size][:5]}... in order")
                fence.check()  # a runner that lost its lease writes no more shards
                replace_text(meta, json.dumps(shard_metrics))  # metrics first: the rows mark it done
                replace_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in shard_rows))
                ran += 1
                tokens += shard_metrics.get("tokens", 0.0)
                seconds += shard_metrics["seconds"]
                if seconds > 0:
                    bar.set_postfix(tok_s=f"{tokens / seconds:.0f}")
            out.extend(shard_rows)
            metrics.append(shard_metrics)
            bar.update(len(chunk))
            task.advance(len(chunk))
            if stage_records.active():  # a shard done by an earlier attempt too: its step is dropped if logged
                report_shard(desc, metrics, len(chunk), start + len(chunk), len(rows), totals)
    if missing:
        raise ShardsMissing(f"{len(missing)} of {total} shards missing or holding other ids in {shards_dir}: "
                            f"{missing[:20]}. Fix: run the step again; only the workers of those shards run")
    if role.worker is not None:
        raise WorkerDone(ran, total)
    return out, metrics, ran
