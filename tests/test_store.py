"""The store commits atomically and never serves a half-written output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hala_exp.pipeline.store import Store


def test_commit_makes_output_complete_and_reusable(tmp_path):
    store = Store(tmp_path)
    work = store.begin("sft", "abc")
    (work / "model").mkdir()
    assert store.record("sft", "abc") is None
    final = store.commit(work, "sft", "abc", {"metrics": {"loss": 1.0}})
    assert final == store.path("sft", "abc") and (final / "model").is_dir()
    assert store.record("sft", "abc")["metrics"] == {"loss": 1.0}
    assert not work.exists()


def test_losing_a_commit_race_keeps_the_winner(tmp_path):
    store = Store(tmp_path)
    a, b = store.begin("merge", "k"), store.begin("merge", "k")
    (a / "who").write_text("a")
    (b / "who").write_text("b")
    store.commit(a, "merge", "k", {"metrics": {}})
    store.commit(b, "merge", "k", {"metrics": {}})
    assert (store.path("merge", "k") / "who").read_text() == "a"
    assert not b.exists()


def test_killed_writer_leaves_nothing_complete_and_is_swept(tmp_path):
    code = (f"import os; from hala_exp.pipeline.store import Store; s = Store({str(tmp_path)!r}); "
            "w = s.begin('sft', 'k'); (w / 'half').write_text('x'); os.kill(os.getpid(), 9)")
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    store = Store(tmp_path)
    assert store.record("sft", "k") is None and not store.path("sft", "k").exists()
    assert len(list(store.tmp.iterdir())) == 1
    assert store.sweep_stale() == 1
    assert list(store.tmp.iterdir()) == []


def test_sweep_keeps_live_writers(tmp_path):
    store = Store(tmp_path)
    work = store.begin("sft", "k")  # this process is alive
    assert store.sweep_stale() == 0 and work.exists()
    assert json.loads((work / ".owner").read_text())["pid"] == os.getpid()


def test_stale_work_is_swept_on_hosts_whose_names_hold_dashes(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "gpu-node-01")
    code = (f"import os, socket; socket.gethostname = lambda: 'gpu-node-01'; from hala_exp.pipeline.store import "
            f"Store; w = Store({str(tmp_path)!r}).begin('evaluate.student-base', 'k'); os.kill(os.getpid(), 9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    store = Store(tmp_path)
    live = store.begin("sft", "k2")
    assert store.sweep_stale() == 1 and [p.name for p in store.tmp.iterdir()] == [live.name]
    final = store.commit(live, "sft", "k2", {"metrics": {}})
    assert not (final / ".owner").exists()


def _entry(store: Store, stage: str = "sft", key: str = "k", legacy: bool = False):
    """A committed entry with a model file and a sub-directory (or one without a file list)."""
    work = store.begin(stage, key)
    (work / "model").mkdir()
    (work / "model" / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    (work / "metrics.json").write_text("{}")
    final = store.commit(work, stage, key, {"metrics": {"loss": 1.0}})
    if legacy:  # as written before records listed their files
        record = json.loads((final / "record.json").read_text())
        del record["files"]
        (final / "record.json").write_text(json.dumps(record))
    return final


def test_commit_lists_every_file_with_its_size_and_content_hash(tmp_path):
    from hala_exp.pipeline.manifest import file_hash

    store = Store(tmp_path)
    final = _entry(store)
    files = store.record("sft", "k")["files"]
    assert set(files) == {"model/model.safetensors", "metrics.json"}  # not the record itself
    assert files["model/model.safetensors"] == {"size": 10240,
                                                "xxh3_128": file_hash(final / "model" / "model.safetensors")}
    assert store.record("sft", "k")["metrics"] == {"loss": 1.0}  # the record's own fields kept


def test_truncated_or_deleted_file_makes_the_entry_broken_and_reuse_moves_it_aside(tmp_path):
    store = Store(tmp_path)
    for key, damage in (("cut", lambda f: f.write_bytes(f.read_bytes()[:1000])), ("gone", lambda f: f.unlink())):
        final = _entry(store, key=key)
        damage(final / "model" / "model.safetensors")
        problem = store.check("sft", key)
        assert problem.file == "model/model.safetensors"
        assert str(final / "model" / "model.safetensors") in str(problem)
        assert ("1,000 bytes, expected 10,240 bytes" if key == "cut" else "missing") in str(problem)
        assert store.record("sft", key) is None and final.exists()  # record() is read-only
        record, aside = store.reuse("sft", key)
        assert record is None and aside.problem == problem and not final.exists()
        assert aside.moved_to.parent == tmp_path / ".broken" and aside.moved_to.name.startswith(f"sft-{key}-")
        assert (aside.moved_to / "broken.txt").read_text().strip() == str(problem)
        assert (aside.moved_to / "record.json").is_file()  # kept whole, never deleted
        assert store.reuse("sft", key) == (None, None)  # nothing left: the step runs


def test_garbage_record_is_broken_with_the_file_named_not_a_json_error(tmp_path):
    store = Store(tmp_path)
    final = _entry(store)
    (final / "record.json").write_text("{\"metrics\": {")
    problem = store.check("sft", "k")
    assert problem.file == "record.json" and str(final / "record.json") in str(problem)
    assert "not valid JSON" in str(problem) and store.record("sft", "k") is None
    assert store.reuse("sft", "k")[1].moved_to is not None and not final.exists()
    final = _entry(store, key="nolist")
    (final / "record.json").write_text(json.dumps({"metrics": {}, "files": {"a": 3}}))
    assert "file list" in str(store.check("sft", "nolist"))
    final = _entry(store, key="norecord")
    (final / "record.json").unlink()  # a directory in place without its completion record
    assert store.check("sft", "norecord").file == "record.json"


def test_same_size_change_is_found_by_hashes_only(tmp_path):
    store = Store(tmp_path)
    final = _entry(store)
    f = final / "model" / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[5000] ^= 0xFF
    f.write_bytes(bytes(data))
    assert store.check("sft", "k") is None and store.record("sft", "k") is not None
    problem = store.check("sft", "k", hashes=True)
    assert problem.file == "model/model.safetensors" and "content changed: xxh3_128" in problem.detail


def test_records_without_a_file_list_are_still_reused(tmp_path):
    store = Store(tmp_path)
    final = _entry(store, legacy=True)
    (final / "model" / "model.safetensors").write_bytes(b"x")  # nothing to compare it with
    assert store.check("sft", "k", hashes=True) is None
    record, aside = store.reuse("sft", "k", hashes=True)
    assert record["metrics"] == {"loss": 1.0} and aside is None and final.exists()


def test_verify_command_reports_broken_and_legacy_entries_and_can_set_them_aside(tmp_path):
    store = Store(tmp_path)
    _entry(store, key="good")
    _entry(store, key="old", legacy=True)
    bad = _entry(store, stage="merge", key="bad")
    f = bad / "model" / "model.safetensors"
    f.write_bytes(b"\0" * f.stat().st_size)  # same size, other bytes
    cmd = [sys.executable, "-m", "hala_exp.verify", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[:-1]}
    assert lines["merge/bad"].startswith("BROKEN") and str(f) in lines["merge/bad"]
    assert lines["sft/good"].startswith("ok") and lines["sft/old"].startswith("legacy")
    assert "3 entries, 1 ok, 1 broken, 1 legacy" in proc.stdout.splitlines()[-1]
    assert bad.exists()  # reported only
    proc = subprocess.run([*cmd, "--set-aside"], capture_output=True, text=True)
    assert proc.returncode == 1 and not bad.exists() and len(list((tmp_path / ".broken").iterdir())) == 1
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0 and "2 entries, 1 ok, 0 broken, 1 legacy" in proc.stdout


def test_store_verify_takes_size_or_hash_and_names_itself_otherwise():
    import pytest

    from hala_exp.config import ConfigError, compose, validate

    assert compose([]).store_verify == "hash"
    validate(compose(["store_verify=size"]), check_data=False)
    with pytest.raises(ConfigError, match="store_verify.*size, hash"):
        validate(compose(["store_verify=sha"]), check_data=False)


def test_only_reused_outputs_that_a_running_step_reads_are_hashed(tmp_path):
    from hala_exp.pipeline.hash_on_reuse import to_hash
    from hala_exp.recipes.graph import Ref, Step

    steps = [Step("build", "build_model", "m:f", {}), Step("sft", "sft", "m:f", {}, {"model": Ref("build", "model")}),
             Step("merge", "merge", "m:f", {}, {"base": Ref("build", "model"), "tuned": Ref("sft", "model")}),
             Step("other", "build_model", "m:f", {})]
    keys = {s.name: s.name for s in steps}
    store = Store(tmp_path)
    for name in ("build", "sft", "other"):
        _entry(store, name, name)
    assert to_hash(steps, keys, store, "hash") == {"build", "sft"}  # read by merge, which must run
    assert to_hash(steps, keys, store, "size") == set()
    _entry(store, "merge", "merge")
    assert to_hash(steps, keys, store, "hash") == set()  # nothing runs: nothing is read
