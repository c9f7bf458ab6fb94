"""One step runs from a JSON spec in another process and commits through the store."""

from __future__ import annotations

import json
import subprocess
import sys

from planned import planned


def test_step_runs_from_a_spec_file_then_is_reused(tmp_path):
    p = planned(tmp_path)
    name, store, keys = "build.student_base", p.store, p.keys
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(p.spec(name)))
    first = subprocess.run([sys.executable, "-m", "hala_exp.step_process", str(spec_file)], capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    record = store.record(name, keys[name])
    assert record["metrics"]["parameters"] > 0 and record["key"] == keys[name]
    assert (store.path(name, keys[name]) / "model" / "config.json").is_file()
    second = subprocess.run([sys.executable, "-m", "hala_exp.step_process", str(spec_file)], capture_output=True,
                            text=True)
    assert second.returncode == 0 and "reused build.student_base" in second.stderr
