"""A generation step spread over W workers: each shard once, the output a one-worker run's, resumable."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from hala_exp.config import compose
from hala_exp.json_files import read_jsonl
from hala_exp.pipeline.dispatch import run_step
from hala_exp.pipeline.execute import execute, make_spec
from hala_exp.pipeline.fanout import gpu_groups, marker, unfinished, worker_spec, workers_for
from hala_exp.pipeline.lease import Lease
from hala_exp.pipeline.store import Store
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys
from hala_exp.shards import Role, ShardsMissing, WorkerDone, assigned, done_shards, read_plan, run_sharded

ROWS, SHARD = 8, 2


def _upper(chunk):
    return [{"id": r["id"], "text": r["text"].upper()} for r in chunk], {"tokens": float(len(chunk))}


def test_workers_split_shards_by_index_and_the_gather_needs_them_all(tmp_path):
    rows = [{"id": f"r{i}", "text": f"row {i}"} for i in range(10)]
    seen: list[list[str]] = []

    def record(chunk):
        seen.append([r["id"] for r in chunk])
        return _upper(chunk)

    with assigned(Role(worker=1, workers=2)), pytest.raises(WorkerDone):
        run_sharded(rows, 3, tmp_path, record)
    assert seen == [["r3", "r4", "r5"], ["r9"]] and done_shards(tmp_path) == [1, 3]  # i % 2 == 1
    assert read_plan(tmp_path) == {"shards": 4, "rows": 10, "shard_rows": 3}
    with assigned(Role(gather=True, workers=2)), pytest.raises(ShardsMissing, match=r"\[0, 2\]"):
        run_sharded(rows, 3, tmp_path, record)
    assert len(seen) == 2  # the gather never computes
    with assigned(Role(worker=0, workers=2)), pytest.raises(WorkerDone):
        run_sharded(rows, 3, tmp_path, record)
    with assigned(Role(gather=True, workers=2)):
        out, metrics, ran = run_sharded(rows, 3, tmp_path, record)
    assert ran == 0 and len(seen) == 4 and sorted(sum(seen, [])) == sorted(r["id"] for r in rows)
    plain, _, _ = run_sharded(rows, 3, tmp_path / "one", _upper)
    assert out == plain and len(metrics) == 4
    (tmp_path / "shard-00002.jsonl").write_text('{"id": "r0", "text": "X"}\n')  # other ids: not r6..r8
    with assigned(Role(gather=True, workers=2)), pytest.raises(ShardsMissing, match=r"\[2\]"):
        run_sharded(rows, 3, tmp_path, record)


def test_a_rerun_worker_skips_its_finished_shards(tmp_path):
    rows = [{"id": i, "text": str(i)} for i in range(8)]
    with assigned(Role(worker=0, workers=2)), pytest.raises(WorkerDone):
        run_sharded(rows, 2, tmp_path, _upper)
    (tmp_path / "shard-00002.jsonl").unlink()  # killed before its second shard was in place

    def only_2(chunk):
        assert [r["id"] for r in chunk] == [4, 5], "a finished shard was recomputed"
        return _upper(chunk)

    with assigned(Role(worker=0, workers=2)), pytest.raises(WorkerDone) as e:
        run_sharded(rows, 2, tmp_path, only_2)
    assert e.value.ran == 1


def test_workers_setting_and_gpu_groups():
    cfg = compose(["resources.stages.judge.workers=3"])
    assert workers_for(cfg.resources, "judge") == 3
    assert workers_for(cfg.resources, "translate_corpus") == 1 and workers_for(cfg.resources, "sft") == 1
    assert gpu_groups(8, 2) == ["0,1,2,3", "4,5,6,7"] and gpu_groups(1, 2) == [None, None]
    with pytest.raises(ValueError, match="divisor"):
        gpu_groups(3, 2)


def _bootstrap_spec(tiny_llama: Path, store_dir: Path) -> tuple[dict, Store]:
    cfg = compose([f"store={store_dir}", f"data.bootstrap.rows={ROWS}", f"engine.shard_rows={SHARD}",
                   "engine.device=cpu", "teacher.max_new_tokens=6", "teacher.fp8=false", "engine.temperature=0"])
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    execute(make_spec(next(s for s in steps if s.name == "source.bootstrap"), keys, store))
    spec = make_spec(next(s for s in steps if s.name == "translate_bootstrap"), keys, store)
    spec["inputs"]["model"] = str(tiny_llama)
    return spec, store


def _outputs(store: Store, spec: dict) -> dict[str, bytes]:
    d = store.path(spec["name"], spec["key"])
    return {n: (d / n).read_bytes() for n in ("tuples.jsonl", "rejected.jsonl")}


def test_two_local_workers_write_what_one_worker_writes(tiny_llama, tmp_path):
    one, store1 = _bootstrap_spec(tiny_llama, tmp_path / "one")
    two, store2 = _bootstrap_spec(tiny_llama, tmp_path / "two")
    assert one["key"] == two["key"]  # the number of workers is not part of the key
    run_step(one, None, tmp_path / "steps1")
    # worker 1 has already done its part (as after a kill of the others): only worker 0 runs again
    shards = Path(two["inputs"]["shards"])
    assert execute_worker(worker_spec(two, 1, 2)) and done_shards(shards) == [1, 3]
    assert unfinished(two, 2) == [0]
    (shards / "shard-00003.jsonl").rename(shards / "kept")  # a shard of a worker marked done goes missing
    assert unfinished(two, 2) == [0, 1]
    (shards / "kept").rename(shards / "shard-00003.jsonl")
    assert unfinished(two, 2) == [0]
    record, ran = run_step(two, None, tmp_path / "steps2", workers=2)
    assert ran and record["metrics"]["shards"] == ROWS // SHARD
    assert record["metrics"]["shards_run"] == 0  # the gather computes nothing itself
    assert _outputs(store2, two) == _outputs(store1, one)  # byte for byte
    rows = read_jsonl(store2.path(two["name"], two["key"]) / "tuples.jsonl") + \
        read_jsonl(store2.path(two["name"], two["key"]) / "rejected.jsonl")
    assert sorted(r["id"] for r in rows) == sorted({r["id"] for r in rows}) and len(rows) == ROWS
    logs = sorted(p.name for p in (tmp_path / "steps2").glob("*.log"))
    assert logs == ["translate_bootstrap.w0of2.log"]  # worker 1 was not started again
    assert not shards.exists() and not marker(two, 0, 2).exists()  # gone with the commit
    assert not json.dumps(record).count("shards_role")


def execute_worker(spec: dict) -> bool:
    from hala_exp.pipeline.fanout import work

    return work(spec)


def test_a_second_copy_of_a_worker_waits_for_the_first_and_computes_nothing(tiny_llama, tmp_path):
    """A requeued worker racing its predecessor must not write the same shards at once: it waits for
    the copy holding the worker's lease, then finds the worker done and leaves."""
    spec, store = _bootstrap_spec(tiny_llama, tmp_path)
    worker = worker_spec(spec, 1, 2)
    first = Lease(store.root, f"{spec['name']}.worker1of2", spec["key"], heartbeat_s=0.1)
    assert first.acquire()  # the first copy, alive and computing
    result: list[bool] = []
    second = threading.Thread(target=lambda: result.append(execute_worker(worker)), daemon=True)
    second.start()
    time.sleep(1.5)
    shards = Path(spec["inputs"]["shards"])
    assert second.is_alive() and not result and done_shards(shards) == []  # waiting, computing nothing
    shards.mkdir(parents=True, exist_ok=True)
    marker(worker, 1, 2).write_text("{}")  # the first copy finishes its shards (and then lets go)
    second.join(timeout=30)
    first.release()
    assert result == [False] and done_shards(shards) == []  # found the worker done: nothing run twice


def test_status_counts_a_running_passs_shards(tmp_path):
    from hala_exp.launch.status import shard_progress

    assert shard_progress(tmp_path) == {}  # not sized yet
    rows = [{"id": i, "text": str(i)} for i in range(5)]
    with assigned(Role(worker=0, workers=2)), pytest.raises(WorkerDone):
        run_sharded(rows, 2, tmp_path, _upper)
    got = shard_progress(tmp_path)
    assert got["shards"] == "2/3"  # shards 0 and 2 of 3


def test_status_counts_each_workers_shards_and_rate(tmp_path):
    from hala_exp.launch.status import worker_progress

    rows = [{"id": i, "text": str(i)} for i in range(5)]
    with assigned(Role(worker=0, workers=2)), pytest.raises(WorkerDone):
        run_sharded(rows, 2, tmp_path, _upper)
    for i, seconds in ((0, 0.5), (2, 0.5)):  # the compute time each shard recorded: 3 rows in 1 s
        meta = tmp_path / f"shard-{i:05d}.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "seconds": seconds}))
    assert worker_progress(tmp_path, 2) == {"0": {"shards": "2/2", "rows_per_s": 3.0}, "1": {"shards": "0/1"}}
    assert worker_progress(tmp_path, 1) == {}
