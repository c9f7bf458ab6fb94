"""One step runs from a JSON spec in another process and commits through the store."""

from __future__ import annotations

import json
import subprocess
import sys

from hala_exp.config import compose
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.graph import build_graph, step_keys
from hala_exp.pipeline.store import Store


def test_step_runs_from_a_spec_file_then_is_reused(tmp_path):
    cfg = compose([f"store={tmp_path / 'store'}"])
    steps = build_graph(cfg)
    keys = step_keys(steps)
    store = Store(cfg.store)
    step = next(s for s in steps if s.name == "build.student_base")
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(make_spec(step, keys, store)))
    first = subprocess.run([sys.executable, "-m", "hala_exp.step", str(spec_file)], capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    record = store.record(step.name, keys[step.name])
    assert record["metrics"]["parameters"] > 0 and record["key"] == keys[step.name]
    assert (store.path(step.name, keys[step.name]) / "model" / "config.json").is_file()
    second = subprocess.run([sys.executable, "-m", "hala_exp.step", str(spec_file)], capture_output=True,
                            text=True)
    assert second.returncode == 0 and "reused build.student_base" in second.stderr
