"""Suites on lighteval's registry: names resolve offline, subsets roll up, tasks read local data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from arabic_mmlu_repo import write_repo
from omegaconf import OmegaConf

from hala_exp.config import ConfigError, compose, validate
from hala_exp.evaluation.suites import expand, suite_scores

OALL_SUBSETS = {"alghafa": 9, "arabic_mmlu": 40, "arabic_exams": 1, "madinah_qa": 2, "aratrust": 8,
                "arabic_mmlu_ht": 57}
OALL_REPOS = {"alghafa": "OALL/AlGhafa-Arabic-LLM-Benchmark-Native", "arabic_mmlu": "MBZUAI/ArabicMMLU",
              "arabic_exams": "OALL/Arabic_EXAMS", "madinah_qa": "MBZUAI/MadinahQA",
              "aratrust": "asas-ai/AraTrust-categorized", "arabic_mmlu_ht": "MBZUAI/human_translated_arabic_mmlu"}
ALLAM_SUBSETS = {"acva": 58, "arabic_exams": 1, "global_mmlu_all_eng_mcf": 57}


@pytest.fixture(scope="module")
def registry():
    """lighteval's task configs with the multilingual set, loaded offline (no dataset is read)."""
    from hala_exp.evaluation.suites import load_registry

    return load_registry(None, multilingual=True)


def _by_task(tasks: list[tuple[str, int]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, _ in tasks:
        counts[name.split(":")[0]] = counts.get(name.split(":")[0], 0) + 1
    return counts


@pytest.mark.parametrize("suite,subsets", [("oall", OALL_SUBSETS), ("allam", ALLAM_SUBSETS)])
def test_suites_compose_validate_and_resolve_in_lighteval_registry(registry, suite, subsets):
    cfg = compose([f"eval={suite}"])
    validate(cfg)
    lcfg = cfg.eval.lighteval
    tasks = expand(lcfg.tasks, registry, lcfg.exclude)
    assert _by_task(tasks) == subsets
    assert all(any(m.metric_name.split(":")[0] == lcfg.metric for m in registry[n].metrics) for n, _ in tasks)
    if suite == "oall":
        assert "arabic_mmlu:All" not in dict(tasks) and "alrage_qa" not in dict(tasks)
        assert {n.split(":")[0]: registry[n].hf_repo for n, _ in tasks} == OALL_REPOS
        assert {k for _, k in tasks} == {0}
    # the Table 2 protocol rides along: MMLU x MMMLU (Arabic), n = 500, prompts verbatim
    tr = cfg.eval.translation
    assert (tr.mmlu.en.path, tr.mmlu.en.subset, tr.mmlu.ar.path, tr.mmlu.ar.subset) == (
        "cais/mmlu", "all", "openai/MMMLU", "AR_XY")
    assert tr.n == 500 and tr.prompt == "Translate everything that follows into Arabic: {text}"


def test_unknown_task_and_bad_fewshot_are_refused(registry):
    with pytest.raises(ValueError, match="arabic_mmlu_typo"):
        expand(["arabic_mmlu_typo|0"], registry)
    with pytest.raises(ValueError, match="few-shot"):
        expand(["arabic_mmlu|x"], registry)


def test_data_dirs_copy_the_registry_task_with_a_local_repo(registry, tmp_path):
    from hala_exp.evaluation.suites import task_module

    tasks = expand(["arabic_mmlu|0", "madinah_qa|0"], registry, ["arabic_mmlu:All"])
    module = task_module(tasks, registry, base=set(), custom=None, data_dirs={"arabic_mmlu": str(tmp_path)})
    table = {cfg.name: cfg for cfg in module.TASKS_TABLE}
    assert set(table) == {n for n, _ in tasks}
    name = "arabic_mmlu:Driving Test"
    assert table[name].hf_repo == str(tmp_path) and table[name].hf_subset == "Driving Test"
    assert table[name].prompt_function is registry[name].prompt_function
    assert registry[name].hf_repo == "MBZUAI/ArabicMMLU"  # the registry itself is untouched
    assert table["madinah_qa:Arabic Language (General)"].hf_repo == "MBZUAI/MadinahQA"
    with pytest.raises(ValueError, match="not among the suite's tasks"):
        task_module(tasks, registry, set(), None, {"aratrust": str(tmp_path)})
    with pytest.raises(ValueError, match="not a directory"):
        task_module(tasks, registry, set(), None, {"arabic_mmlu": str(tmp_path / "nope")})


def test_suite_roll_up_is_mean_of_subsets_then_mean_of_tasks():
    flat = {"alghafa.a.acc": 0.2, "alghafa.b.acc": 0.4, "alghafa.acc": 0.3,
            "arabic_exams.acc": 0.5,
            "madinah_qa.x.acc": 0.9, "madinah_qa.x.acc_norm": 0.1, "madinah_qa.acc": 0.9}
    scores = suite_scores(flat, ["alghafa|0", "arabic_exams|0", "madinah_qa:x|0"], "oall", "acc")
    assert scores == pytest.approx({"oall.alghafa": 30.0, "oall.arabic_exams": 50.0, "oall.madinah_qa": 90.0,
                                    "oall.average": (30 + 50 + 90) / 3})
    with pytest.raises(ValueError, match="no 'acc' score for task 'aratrust'"):
        suite_scores(flat, ["aratrust|0"], "oall", "acc")


def test_missing_data_dir_fails_validation(tmp_path):
    cfg = compose(["eval=oall", f"+eval.lighteval.data_dirs.arabic_mmlu={tmp_path / 'absent'}"])
    with pytest.raises(ConfigError, match="eval.lighteval.data_dirs.arabic_mmlu"):
        validate(cfg)


def test_real_arabic_mmlu_task_runs_on_a_local_copy_of_its_repo(tiny_lfm2: Path, tmp_path: Path):
    """lighteval's own `arabic_mmlu` task (its prompt and metric) on a local ArabicMMLU-format repo."""
    from hala_exp.stages.evaluate import run_lighteval

    subsets = ["Driving Test", "Political Science (University)"]
    write_repo(tmp_path / "ArabicMMLU", subsets, rows_per_subset=4)
    cfg = compose(["eval=oall", "engine.device=cpu", "eval.lighteval.batch_size=16",
                   f"eval.lighteval.tasks=[{','.join(repr(f'arabic_mmlu:{s}|0') for s in subsets)}]",
                   f"+eval.lighteval.data_dirs.arabic_mmlu={tmp_path / 'ArabicMMLU'}"])
    validate(cfg)
    stage_cfg = OmegaConf.create({"eval": OmegaConf.to_container(cfg.eval, resolve=True),
                                  "engine": OmegaConf.to_container(cfg.engine, resolve=True)})
    out = tmp_path / "out"
    scores = run_lighteval(stage_cfg, {"model": str(tiny_lfm2)}, out)
    per_subset = [scores[f"arabic_mmlu.{s}.acc"] for s in subsets]
    assert all(v in (0.0, 0.25, 0.5, 0.75, 1.0) for v in per_subset)  # 4 questions each
    assert scores["oall.arabic_mmlu"] == pytest.approx(100 * sum(per_subset) / 2)
    assert scores["oall.average"] == scores["oall.arabic_mmlu"]
    record = json.loads((out / "metrics.json").read_text())
    assert record["data_dirs"] == {"arabic_mmlu": str(tmp_path / "ArabicMMLU")}
    assert len(list(next((out / "details").iterdir()).glob("details_*.parquet"))) == 2
