"""The run is compiled once into an immutable Plan, and everything after composition reads it."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from hala_exp.config import compose
from hala_exp.plan.compiled import PLAN_FILE, Plan, load_plan
from hala_exp.plan.compiler import compile_plan
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys

PACKAGE = Path(__file__).resolve().parents[1] / "hala_exp"
# What runs after composition: it gets the Plan, never the config (nor builds the graph again).
AFTER_COMPOSITION = ["pipeline/runner.py", "launch/submit.py", "launch/status.py", "launch/plan_check.py",
                     "plan/checks.py", "report/load.py", "report/cli.py", "report/page.py"]


def test_compiling_changes_no_key_and_plan_json_reads_back_equal(tmp_path):
    for overrides in ([], ["experiment=hala_9b", "cluster=h100", "engine=vllm"], ["experiment=allam_tiny"]):
        cfg = compose([f"store={tmp_path}", *overrides])
        plan = compile_plan(cfg)
        assert plan.keys == step_keys(build_graph(cfg))
        assert [s.name for s in plan.steps] == [s.name for s in build_graph(cfg)]
        assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
        assert (plan.cluster is not None) == ("cluster=h100" in overrides)


def test_a_plan_cannot_be_edited(tmp_path):
    plan = compile_plan(compose([f"store={tmp_path}"]))
    step = next(s for s in plan.steps if s.stage == "sft")
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.key = "0" * 16  # type: ignore[misc]
    with pytest.raises(TypeError, match="read-only"):
        step.config["train"]["seed"] = 1
    with pytest.raises(TypeError, match="read-only"):
        plan.tracking["config"]["seed"] = 1
    assert isinstance(json.loads(json.dumps(step.config)), dict)  # still plain JSON to a stage


def test_each_step_carries_where_and_how_it_runs(tmp_path):
    plan = compile_plan(compose([f"store={tmp_path}", "experiment=hala_9b", "cluster=h100", "engine=vllm",
                                 "runtime=cluster", "runtime.envs.core=/envs/core/bin/python",
                                 "runtime.envs.vllm=/envs/vllm/bin/python"]))
    sft, judge = plan.step("sft"), plan.step("judge")
    assert sft.batch is not None and sft.batch.processes == sft.job.processes > 1
    assert sft.launch is not None and "--num_processes" in sft.launch
    assert judge.environment == "/envs/vllm/bin/python" and judge.launch is None
    assert judge.job.engine is not None and judge.job.job.gpus_per_node >= judge.job.engine.tensor_parallel_size
    assert all(s.state.status == "run" for s in plan.steps)  # an empty store


def test_the_report_draws_the_graph_from_the_plan(tmp_path):
    from hala_exp.report.load import load_run

    plan = compile_plan(compose([f"store={tmp_path / 'store'}"]))
    run = tmp_path / "run"
    run.mkdir()
    plan.write(run)
    (run / "results.json").write_text('{"stages": {}, "metrics": {}}')
    assert load_plan(run) == plan and (run / PLAN_FILE).is_file()
    view = load_run(run)
    assert [s.name for s in view.steps] == [s.name for s in plan.steps]
    assert {s.name: s.needs for s in view.steps} == {s.name: list(s.needs) for s in plan.steps}
    assert {s.status for s in view.steps} == {"not run"}
    (run / PLAN_FILE).write_text(json.dumps({**plan.to_json(), "format": 99}))  # another version's layout
    assert load_plan(run) is None and [s.name for s in load_run(run).steps] == []  # read as an older run


def test_plan_json_holds_no_secret(tmp_path, monkeypatch):
    secret = "hf_s3cr3t_value_0123"
    monkeypatch.setenv("HF_TOKEN", secret)
    plan = compile_plan(compose([f"store={tmp_path / 'store'}", f"name=exp-{secret}"]))
    assert secret in plan.name  # a config that interpolated a token, say
    text = plan.write(tmp_path).read_text(encoding="utf-8")
    assert secret not in text and "exp-<redacted>" in text


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    found |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found |= {f"{node.module}.{a.name}" for a in node.names} | {a.name for a in node.names} | {node.module or ""}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("module", AFTER_COMPOSITION)
def test_what_runs_after_composition_reads_the_plan_not_the_config(module):
    names = _names(PACKAGE / module)
    read_config = {"DictConfig", "omegaconf", "build_graph", "step_keys", "hala_exp.recipes"} & names
    assert not read_config, f"{module} reads the config or rebuilds the graph: {sorted(read_config)}"


def test_the_check_above_catches_a_module_that_reads_the_config(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from omegaconf import DictConfig\nfrom hala_exp.recipes import build_graph\n")
    assert {"DictConfig", "hala_exp.recipes"} <= _names(bad)
