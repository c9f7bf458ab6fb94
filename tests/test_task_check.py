"""Unknown lighteval task names fail when the run starts, before any model step, with the closest names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hala_exp.config import ConfigError, compose
from hala_exp.evaluation import task_check
from hala_exp.evaluation.task_check import task_problems
from hala_exp.plan.checks import check_tasks
from hala_exp.plan.compiled import StoreState
from hala_exp.plan.compiler import compile_plan

NAMES = ["arabic_mmlu:Driving Test", "arabic_mmlu:History", "arabic_mmlu_ht:law", "arabic_exams", "acva:Algeria"]


def test_known_names_and_supersets_pass_and_unknown_ones_name_key_value_and_fix():
    assert task_problems(["arabic_mmlu|0", "arabic_exams|0", "lighteval|arabic_mmlu:History|5"], NAMES) == []
    (problem,) = task_problems(["arabic_exams|0", "arabic_mmlu_hts|0"], NAMES)
    assert problem.startswith("eval.lighteval.tasks[1] = 'arabic_mmlu_hts|0': 'arabic_mmlu_hts' is not")
    assert "Fix: use one of 'arabic_mmlu_ht'" in problem
    (far,) = task_problems(["zzz|0"], NAMES)
    assert "lighteval tasks list" in far
    (shots,) = task_problems(["arabic_exams|five"], NAMES)
    assert shots.startswith("eval.lighteval.tasks[0] = 'arabic_exams|five'") and "Fix:" in shots
    assert task_problems(["arabic_mmlu:Nope|0"], NAMES)  # a subset must exist itself


def test_no_registry_is_loaded_unless_the_run_would_evaluate(monkeypatch, tmp_path):
    from dataclasses import replace

    monkeypatch.setattr(task_check, "registry_problems", lambda *a, **k: pytest.fail("lighteval was loaded"))
    check_tasks(compile_plan(compose([f"store={tmp_path}", "eval.lighteval.tasks=[]"])))
    plan = compile_plan(compose([f"store={tmp_path}", "eval.lighteval.tasks=[nope|0]"]))
    reused = replace(plan, steps=tuple(replace(s, state=StoreState("reused")) for s in plan.steps))
    check_tasks(reused)  # every evaluation reused
    with pytest.raises(pytest.fail.Exception, match="lighteval was loaded"):
        check_tasks(plan)


def _wrapper(tmp_path: Path) -> Path:
    """This interpreter under another path: the check then runs in a subprocess, as for an own env."""
    script = tmp_path / "python"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    script.chmod(0o755)
    return script


def test_the_check_runs_in_the_evaluation_stages_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    python = _wrapper(tmp_path)
    monkeypatch.setattr(task_check, "registry_problems", lambda *a, **k: pytest.fail("checked in this process"))
    cfg = compose([f"store={tmp_path / 'store'}", f"+runtime.envs.eval={python}",
                   "+runtime.stages.evaluate_lighteval=eval", "eval.lighteval.tasks=[arabic_mmlu_sampel|0]"])
    with pytest.raises(ConfigError, match=r"eval.lighteval.tasks\[0\] = 'arabic_mmlu_sampel\|0'.*'arabic_mmlu_sample'"):
        check_tasks(compile_plan(cfg))


def test_cli_refuses_an_unknown_task_before_any_step_runs(tmp_path):
    store, run_dir = tmp_path / "store", tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "hala_exp", f"store={store}", f"hydra.run.dir={run_dir}",
         "eval.lighteval.tasks=[arabic_mmlu_sample|0,arabic_mmlu_smaple|0]"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "config error: eval.lighteval.tasks[1] = 'arabic_mmlu_smaple|0'" in proc.stderr
    assert "Fix: use one of 'arabic_mmlu_sample'" in proc.stderr
    assert "step " not in proc.stdout + proc.stderr  # the runner logs every step it starts
    assert not list(store.rglob("record.json")) and not (run_dir / "results.json").exists()


def test_tasks_of_extra_custom_modules_are_known_to_the_check():
    from hala_exp.evaluation.suites import custom_sources

    lcfg = compose(["eval=smoke_en"]).eval.lighteval
    assert len(custom_sources(lcfg)) == 2
    assert task_check.registry_problems(list(lcfg.tasks), custom_sources(lcfg)) == []
    (problem,) = task_check.registry_problems(["mmlu_en_smaple|0"], custom_sources(lcfg))
    assert "Fix: use one of 'mmlu_en_sample'" in problem
