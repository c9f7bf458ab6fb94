"""`plan=true` says why a step would run: what its key holds that the closest stored output of the step does not."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from hala_exp.config import compose
from hala_exp.pipeline import key_change
from hala_exp.pipeline.runner import plan_rows
from hala_exp.plan.compiler import compile_plan
from hala_exp.recipes.graph import Ref, Step
from hala_exp.stages import STAGES

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _hala_exp(tmp_path: Path, *overrides: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "hala_exp", f"store={tmp_path / 'store'}",
                           f"hydra.run.dir={tmp_path / 'run'}", "logger=none", *overrides],
                          capture_output=True, text=True, env=ENV, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_plan_names_the_changed_setting_the_changed_input_and_nothing_for_new_steps(tmp_path):
    _hala_exp(tmp_path, "targets=[source.bootstrap]", "data.bootstrap.rows=20")
    _hala_exp(tmp_path, "targets=[source.bootstrap]", "data.bootstrap.rows=30")
    out = _hala_exp(tmp_path, "plan=true", "targets=[translate_bootstrap]", "data.bootstrap.rows=24")
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "source.bootstrap" in line)
    assert lines[at].split()[0] == "run"
    # both stored outputs differ from it in one field: the newer one is named
    assert lines[at + 1].strip().startswith("why: against ") and "source.rows: 30 -> 24" in lines[at + 1], out
    tb = next(i for i, line in enumerate(lines) if line.split()[1:2] == ["translate_bootstrap"])
    assert not lines[tb + 1].strip().startswith("why:"), out  # nothing stored to compare with

    cfg = compose([f"store={tmp_path / 'store'}", "targets=[source.bootstrap]", "data.bootstrap.rows=20"])
    assert [r["status"] for r in plan_rows(compile_plan(cfg, explain=True))] == ["reused"]


def test_a_stage_version_bump_is_named(tmp_path, monkeypatch):
    _hala_exp(tmp_path, "targets=[source.bootstrap]", "data.bootstrap.rows=20")
    info = STAGES["snapshot"]
    monkeypatch.setitem(STAGES, "snapshot", dataclasses.replace(info, version=info.version + 1))
    cfg = compose([f"store={tmp_path / 'store'}", "targets=[source.bootstrap]", "data.bootstrap.rows=20"])
    (row,) = plan_rows(compile_plan(cfg, explain=True))
    assert row["status"] == "run"
    assert row["why"].endswith(f"stage version {info.version} -> {info.version + 1}"), row


def test_an_input_from_a_changed_step_and_a_changed_hub_id_are_named():
    step = Step("merge", "merge", STAGES["merge"].fn, {"merge": {"t": 0.3}},
                {"tuned": Ref("sft", "model"), "base": "org/base"})
    record = {"version": step.version, "fn": step.fn,
              "config": {"merge": {"t": 0.5}, "report": {"x": 1}, "options": {"threads": 4}},
              "inputs": {"tuned": {"path": "/s/sft/old/model", "key": "old"},
                         "base": {"path": "org/base-v0", "key": None}}}
    found = key_change.differences(step, {"sft": "new", "merge": "k"}, record)
    assert found == ["merge.t: 0.5 -> 0.3", "input base: \"org/base-v0\" -> \"org/base\"",
                     "input tuned: step sft changed"]
    same = {**record, "config": {"merge": {"t": 0.3}}, "inputs": {**record["inputs"], "base": {"path": "org/base"},
                                                                   "tuned": {"path": "p", "key": "new"}}}
    assert key_change.differences(step, {"sft": "new"}, same) == []
