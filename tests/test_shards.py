"""Sharded passes: a killed translation resumes at its first missing shard; ids exact, once each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hala_exp.config import compose
from hala_exp.data.adapters import load_instructions
from hala_exp.json_files import read_jsonl
from hala_exp.pipeline.execute import execute, make_spec
from hala_exp.pipeline.store import Store
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys
from hala_exp.shards import run_sharded


def _upper(chunk):
    return [{"id": r["id"], "text": r["text"].upper()} for r in chunk], {"tokens": float(len(chunk))}


def test_shards_are_committed_and_skipped_on_restart(tmp_path):
    rows = [{"id": f"r{i}", "text": f"row {i}"} for i in range(10)]
    out, metrics, ran = run_sharded(rows, 3, tmp_path, _upper)
    assert ran == 4 and [r["id"] for r in out] == [r["id"] for r in rows]
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == [f"shard-0000{i}.jsonl" for i in range(4)]
    assert [m["tokens"] for m in metrics] == [3, 3, 3, 1] and all(m["seconds"] >= 0 for m in metrics)
    (tmp_path / "shard-00002.jsonl").unlink()  # as if killed before shard 2 was renamed into place

    def only_shard_2(chunk):
        assert [r["id"] for r in chunk] == ["r6", "r7", "r8"], "a done shard was recomputed"
        return _upper(chunk)

    again, _, ran = run_sharded(rows, 3, tmp_path, only_shard_2)
    assert ran == 1 and again == out


def test_a_shard_with_other_ids_is_redone_and_bad_output_is_refused(tmp_path):
    rows = [{"id": i, "text": str(i)} for i in range(4)]
    run_sharded(rows, 2, tmp_path, _upper)
    (tmp_path / "shard-00001.jsonl").write_text('{"id": 99, "text": "stale"}\n')
    out, _, ran = run_sharded(rows, 2, tmp_path, _upper)
    assert ran == 1 and [r["id"] for r in out] == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="expected"):
        run_sharded(rows, 2, tmp_path / "other", lambda chunk: (chunk[::-1], {}))
    with pytest.raises(ValueError, match="unique"):
        run_sharded([{"id": 1}, {"id": 1}], 2, tmp_path / "dup", _upper)


ROWS, SHARD = 8, 2


def test_translate_stage_killed_after_k_shards_resumes(tiny_llama, tmp_path):
    cfg = compose([f"store={tmp_path / 'store'}", f"data.bootstrap.rows={ROWS}", f"engine.shard_rows={SHARD}",
                   "engine.device=cpu", "teacher.max_new_tokens=8", "teacher.fp8=false",
                   "data.gates.enabled=false"])  # a random model fails every gate; this tests sharding
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    execute(make_spec(next(s for s in steps if s.name == "source.bootstrap"), keys, store))  # its rows
    step = next(s for s in steps if s.name == "translate_bootstrap")
    spec = make_spec(step, keys, store)
    spec["inputs"]["model"] = str(tiny_llama)
    shards = Path(spec["inputs"]["shards"])
    assert shards.parent == store.root / ".partial"
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "hala_exp.step_process", str(spec_file)]

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(shards.glob("shard-*.jsonl"))) < 2 and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name: p.read_text(encoding="utf-8") for p in shards.glob("shard-*.jsonl")}
    total = ROWS // SHARD
    assert 2 <= len(done) < total, f"killed after {len(done)} of {total} shards"
    assert store.record(step.name, spec["key"]) is None  # nothing complete-looking was left

    rerun = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    record = store.record(step.name, spec["key"])
    assert record["metrics"]["shards"] == total
    assert record["metrics"]["shards_run"] == total - len(done)  # done shards were not recomputed
    tuples = read_jsonl(store.path(step.name, spec["key"]) / "tuples.jsonl")
    expected = [r["id"] for r in load_instructions(cfg.data.bootstrap, "bootstrap")]
    assert [t["id"] for t in tuples] == expected and len(set(expected)) == ROWS  # each id exactly once
    for name, text in done.items():  # the shards finished before the kill are in the output as they were
        index = int(name[6:11])
        assert tuples[index * SHARD:(index + 1) * SHARD] == [json.loads(x) for x in text.splitlines()]
    assert not shards.exists()  # the partial shards go once the output is committed
    assert record["metrics"]["tokens_per_s"] > 0


def test_ids_unique_per_source_shard_by_source_and_id(tmp_path):
    rows = [{"source": s, "id": i, "text": "x"} for s in ("a", "b") for i in range(3)]  # ids repeat across sources
    out, _, ran = run_sharded(rows, 4, tmp_path, _upper_keep_source, id_of=lambda r: (r["source"], r["id"]))
    assert ran == 2 and [(r["source"], r["id"]) for r in out] == [(r["source"], r["id"]) for r in rows]
    again, _, ran = run_sharded(rows, 4, tmp_path, _upper_keep_source, id_of=lambda r: (r["source"], r["id"]))
    assert ran == 0 and again == out


def _upper_keep_source(chunk):
    return [{**r, "text": r["text"].upper()} for r in chunk], {}
