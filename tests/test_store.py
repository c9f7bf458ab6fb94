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
