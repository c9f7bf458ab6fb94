"""A stage configured for another environment runs there, as a subprocess, and commits to the store."""

from __future__ import annotations

import sys

import pytest
from omegaconf import OmegaConf
from planned import planned

from hala_exp.config import ConfigError, compose, validate
from hala_exp.pipeline.dispatch import StepFailed, run_step
from hala_exp.pipeline.interpreter import interpreter_for


def test_interpreter_for_names_envs_paths_and_the_current_one():
    rt = OmegaConf.create({"envs": {"vllm": "/opt/vllm/bin/python", "here": sys.executable},
                           "stages": {"judge": "vllm", "merge": "/opt/merge/bin/python", "sft": "here"}})
    assert interpreter_for(rt, "judge") == "/opt/vllm/bin/python"
    assert interpreter_for(rt, "merge") == "/opt/merge/bin/python"
    assert interpreter_for(rt, "sft") is None  # the current interpreter: run in-process
    assert interpreter_for(rt, "evaluate_lighteval") is None


def test_a_stage_runs_in_the_environment_of_its_declared_stack_unless_told_otherwise():
    from hala_exp.stages import STAGES

    assert {s.stack for s in STAGES.values()} == {"core", "vllm"}
    engine_stages = {n for n, s in STAGES.items() if s.stack == "vllm"}
    assert engine_stages == {"validate_teacher", "translate_bootstrap", "judge", "translate_corpus",
                             "evaluate_translation"}
    rt = OmegaConf.create({"envs": {"vllm": "/opt/vllm/bin/python"}, "stages": {"judge": None}})
    assert {n for n in STAGES if interpreter_for(rt, n) == "/opt/vllm/bin/python"} == engine_stages
    assert all(interpreter_for(rt, n) is None for n in set(STAGES) - engine_stages)  # no `core` here
    rt = OmegaConf.create({"envs": {"vllm": "/opt/vllm/bin/python", "core": "/opt/core/bin/python"},
                           "stages": {"translate_corpus": "/opt/other/bin/python"}})
    assert interpreter_for(rt, "dpo") == "/opt/core/bin/python"  # a stage no runtime file lists
    assert interpreter_for(rt, "translate_corpus") == "/opt/other/bin/python"  # runtime.stages wins
    cluster = compose(["runtime=cluster", "runtime.envs.core=/envs/core/bin/python",
                       "runtime.envs.vllm=/envs/vllm/bin/python"]).runtime
    assert {n: interpreter_for(cluster, n) for n in STAGES} == {
        n: f"/envs/{STAGES[n].stack}/bin/python" for n in STAGES}


def test_runtime_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"runtime.stages.judge = 'gpu'.*names no environment"):
        validate(compose(["runtime.stages.judge=gpu"]), check_data=False)
    with pytest.raises(ConfigError, match=r"runtime.envs.vllm = .*does not exist"):
        validate(compose([f"+runtime.envs.vllm={tmp_path}/nope/python", "runtime.stages.judge=vllm"]),
                 check_data=False)
    with pytest.raises(ConfigError, match=r"runtime.stages.juge .*is not a stage"):
        validate(compose(["+runtime.stages.juge=/usr/bin/python3"]), check_data=False)


def test_a_stage_runs_in_its_configured_environment(second_env, tmp_path):
    p = planned(tmp_path, f"+runtime.envs.other={second_env}", "runtime.stages.build_model=other")
    validate(p.cfg, check_data=False)
    name = "build.student_base"
    python = interpreter_for(p.cfg.runtime, p.steps[name].stage)
    assert python == str(second_env) != sys.executable
    record, ran = run_step(p.spec(name), python, tmp_path / "steps")
    assert ran and record["python"] == str(second_env)  # written by the other interpreter
    assert p.store.record(name, p.keys[name]) == record
    assert (p.store.path(name, p.keys[name]) / "model" / "config.json").is_file()
    assert "ran build.student_base" in (tmp_path / "steps" / "build.student_base.log").read_text()
    again, ran_again = run_step(p.spec(name), python, tmp_path / "steps")
    assert not ran_again and again == record


def test_a_failing_step_elsewhere_reports_its_log_tail(second_env, tmp_path):
    p = planned(tmp_path)
    spec = {**p.spec("build.student_base"), "fn": "hala_exp.no_such_module:run"}
    with pytest.raises(StepFailed, match=r"(?s)exited with status 1.*No module named 'hala_exp.no_such_module'"):
        run_step(spec, str(second_env), tmp_path / "steps")
    assert p.store.record(spec["name"], spec["key"]) is None
    assert not any((p.store.root / ".tmp").iterdir())  # the failed attempt left nothing behind


def test_a_step_under_accelerate_launch_commits_from_rank_0(tmp_path):
    from hala_exp.training.launch import SPEC

    p = planned(tmp_path)
    name, store = "build.student_base", p.store
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1",
              "--num_machines", "1", "--mixed_precision", "no", "-m", "hala_exp.step_process", SPEC]
    record, ran = run_step(p.spec(name), None, tmp_path / "steps", launch)
    assert ran and store.record(name, p.keys[name]) == record
    assert (store.path(name, p.keys[name]) / "model" / "config.json").is_file()
    assert not any((store.root / ".tmp").iterdir())  # the shared work folder was renamed into place
