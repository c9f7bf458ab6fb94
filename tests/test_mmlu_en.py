"""English MMLU sample: the bundled rows, their lighteval task, and suites that hold it beside the Arabic one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hala_exp.config import ConfigError, compose, validate
from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.json_files import read_jsonl

SAMPLE = SAMPLES_DIR / "mmlu_en" / "sample.jsonl"
ALIGNED = SAMPLES_DIR / "mmlu_en_ar" / "sample.jsonl"
CUSTOM = "hala_exp.evaluation.mmlu_en_tasks"
# rows whose source question carries a leading space or a trailing newline that en_question dropped
WHITESPACE_ONLY = {("business_ethics", 4), ("formal_logic", 71), ("formal_logic", 77), ("marketing", 66),
                   ("moral_disputes", 76), ("moral_disputes", 219), ("moral_disputes", 282), ("nutrition", 70),
                   ("nutrition", 178), ("nutrition", 288), ("world_religions", 38)}


def _stage_cfg(*overrides: str):
    cfg = compose(["engine.device=cpu", *overrides])
    validate(cfg)
    return OmegaConf.create({"eval": OmegaConf.to_container(cfg.eval, resolve=True),
                             "engine": OmegaConf.to_container(cfg.engine, resolve=True)})


def _write_subjects(path: Path, sample: Path, subjects: set[str]) -> Path:
    path.mkdir(parents=True)
    rows = [r for r in read_jsonl(sample) if r["subject"] in subjects]
    (path / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                     encoding="utf-8")
    return path


def test_sample_holds_the_aligned_rows_with_four_choices_and_a_letter():
    rows, aligned = read_jsonl(SAMPLE), read_jsonl(ALIGNED)
    assert len(rows) == 200 and len({r["subject"] for r in rows}) == 57
    assert [(r["subject"], r["index"]) for r in rows] == [(a["subject"], a["index"]) for a in aligned]
    assert all(set(r) == {"subject", "index", "question", "choices", "answer"} for r in rows)
    assert all(len(r["choices"]) == 4 and all(isinstance(c, str) and c.strip() for c in r["choices"]) for r in rows)
    assert all(r["answer"] in ("A", "B", "C", "D") for r in rows)
    differ = set()
    for r, a in zip(rows, aligned):
        assert r["question"].strip() == a["en_question"], (r["subject"], r["index"])
        if r["question"] != a["en_question"]:
            differ.add((r["subject"], r["index"]))
    assert differ == WHITESPACE_ONLY  # kept verbatim from the source CSV (see the sample's README)
    assert sum("\n" in r["question"].strip() for r in rows) == 16  # multi-line CSV fields stayed whole


def test_task_per_subject_with_lightevals_mmlu_prompt(tmp_path):
    from lighteval.tasks.tasks.mmlu import mmlu_prompt

    from hala_exp.evaluation.mmlu_en_tasks import TASKS_TABLE, build_tasks
    from hala_exp.evaluation.subject_tasks import subject_slug

    rows = read_jsonl(SAMPLE)
    assert [t.name for t in TASKS_TABLE] == sorted(f"mmlu_en_sample:{subject_slug(s)}" for s in {r["subject"] for r in rows})
    task = TASKS_TABLE[0]
    assert task.prompt_function is mmlu_prompt
    assert [m.metric_name for m in task.metrics] == ["acc", "acc_norm"]
    assert list(task.evaluation_splits) == ["train"] and task.few_shots_split is None
    assert Path(task.hf_repo) == SAMPLE.parent
    row = next(r for r in rows if r["subject"] == "high_school_physics")
    doc = mmlu_prompt(row, "t")
    assert doc.query.startswith("The following are multiple choice questions (with answers) about high school physics.")
    assert doc.choices == [" A", " B", " C", " D"] and doc.gold_index == "ABCD".index(row["answer"])

    data = _write_subjects(tmp_path / "two", SAMPLE, {"virology", "anatomy"})
    assert [t.name for t in build_tasks(data)] == ["mmlu_en_sample:anatomy", "mmlu_en_sample:virology"]
    assert all(t.hf_repo == str(data) for t in build_tasks(data))


def _details(out: Path):
    import pandas as pd

    (run,) = list((out / "details").iterdir())
    return {p.name: pd.read_parquet(p) for p in run.glob("details_*.parquet")}


@pytest.mark.slow
def test_english_suite_scores_every_subject_and_rolls_up(tiny_lfm2: Path, tmp_path: Path):
    from hala_exp.stages.evaluate import run_lighteval

    rows = read_jsonl(SAMPLE)
    subjects = sorted({r["subject"] for r in rows})
    out = tmp_path / "out"
    scores = run_lighteval(_stage_cfg("eval=english", "eval.lighteval.max_samples=2"), {"model": str(tiny_lfm2)}, out)
    per_subject = [scores[f"mmlu_en_sample.{s}.acc"] for s in subjects]
    assert set(scores) == ({f"mmlu_en_sample.{s}.{m}" for s in subjects for m in ("acc", "acc_norm")}
                           | {"mmlu_en_sample.acc", "mmlu_en_sample.acc_norm", "english.mmlu_en_sample", "english.average"})
    assert all(v in (0.0, 0.5, 1.0) for v in per_subject)  # 2 questions per subject
    assert all(scores[f"mmlu_en_sample.{s}.acc_norm"] == scores[f"mmlu_en_sample.{s}.acc"] for s in subjects)
    assert scores["mmlu_en_sample.acc"] == pytest.approx(sum(per_subject) / len(per_subject))
    assert scores["english.mmlu_en_sample"] == pytest.approx(100 * scores["mmlu_en_sample.acc"])
    assert scores["english.average"] == scores["english.mmlu_en_sample"]

    # what lighteval scored: the sample's questions in its MMLU prompt, and accuracy = argmax log-likelihood
    details = _details(out)
    assert len(details) == 57
    by_question = {(r["subject"], r["question"]): r for r in rows}
    for name, frame in details.items():
        subject = name.split(":")[1].split("|")[0]
        assert len(frame) == 2
        hits = 0
        for doc, resp in zip(frame["doc"], frame["model_response"]):
            question = doc["query"].split("\n\nQuestion: ", 1)[1].rsplit("\nA. ", 1)[0]
            row = by_question[(subject, question)]
            assert doc["gold_index"] == "ABCD".index(row["answer"]) and list(doc["choices"]) == [" A", " B", " C", " D"]
            hits += int(max(range(4), key=lambda i: resp["logprobs"][i]) == doc["gold_index"])
        assert scores[f"mmlu_en_sample.{subject}.acc"] == hits / 2


@pytest.mark.slow
def test_one_suite_holds_the_arabic_and_the_english_sample_tasks(tiny_lfm2: Path, tmp_path: Path):
    from hala_exp.stages.evaluate import run_lighteval

    arabic = _write_subjects(tmp_path / "ar", SAMPLES_DIR / "arabic_mmlu" / "sample.jsonl", {"History"})
    english = _write_subjects(tmp_path / "en", SAMPLE, {"virology", "anatomy"})
    cfg = _stage_cfg("eval=smoke_en", f"eval.lighteval.custom_tasks.0.data_dir={arabic}",
                     "eval.lighteval.max_samples=3", f"eval.lighteval.custom_tasks.1.data_dir={english}")
    scores = run_lighteval(cfg, {"model": str(tiny_lfm2)}, tmp_path / "out")
    assert {k for k in scores if k.count(".") == 2} == {
        "arabic_mmlu_sample.history.acc_norm", "mmlu_en_sample.anatomy.acc", "mmlu_en_sample.anatomy.acc_norm",
        "mmlu_en_sample.virology.acc", "mmlu_en_sample.virology.acc_norm"}
    assert scores["smoke_en.arabic_mmlu_sample"] == pytest.approx(100 * scores["arabic_mmlu_sample.history.acc_norm"])
    assert scores["smoke_en.mmlu_en_sample"] == pytest.approx(100 * scores["mmlu_en_sample.acc_norm"])
    assert scores["smoke_en.average"] == pytest.approx(
        (scores["smoke_en.arabic_mmlu_sample"] + scores["smoke_en.mmlu_en_sample"]) / 2)


def test_the_custom_task_modules_enter_step_keys_as_they_always_did():
    """One list of modules in the config; in the key, the first one's fields and the rest's list (left
    out while empty), as before the list: every suite's evaluations keep their keys."""
    from hala_exp.recipes import build_graph

    def lighteval_slice(option: str) -> dict:
        (step, *_) = [s for s in build_graph(compose([f"eval={option}"])) if s.stage == "evaluate_lighteval"]
        return step.config["eval"]["lighteval"]

    smoke = lighteval_slice("smoke")
    assert (smoke["custom_tasks"], smoke["data_dir"]) == ("hala_exp.evaluation.sample_tasks", "samples:arabic_mmlu")
    assert "extra_custom_tasks" not in smoke and "extra_custom_tasks" not in lighteval_slice("english")
    assert lighteval_slice("smoke_en")["extra_custom_tasks"] == [{"module": CUSTOM, "data_dir": "samples:mmlu_en"}]
    oall = lighteval_slice("oall")
    assert (oall["custom_tasks"], oall["data_dir"]) == (None, None) and "extra_custom_tasks" not in oall


def test_a_custom_module_loaded_twice_is_refused(tmp_path):
    cfg = compose(["eval=english", f"eval.lighteval.custom_tasks=[{{module: {CUSTOM}}}, {{module: {CUSTOM}}}]"])
    with pytest.raises(ConfigError, match=r"custom_tasks\[1\].module"):
        validate(cfg)
    cfg = compose(["eval=smoke_en", f"eval.lighteval.custom_tasks.1.data_dir={tmp_path / 'absent'}"])
    with pytest.raises(ConfigError, match=r"custom_tasks\[1\].data_dir"):
        validate(cfg)
    for old in ("eval.lighteval.data_dir=samples:mmlu_en", f"eval.lighteval.extra_custom_tasks=[{{module: {CUSTOM}}}]"):
        with pytest.raises(ConfigError, match=rf"{old.split('=')[0]} = .* is no longer a setting: .* Fix: remove"):
            validate(compose(["eval=english", old]), check_data=False)

    from hala_exp.evaluation.lighteval_run import custom_tasks_module

    with pytest.raises(ValueError, match="mmlu_en_sample:anatomy"):
        custom_tasks_module([(CUSTOM, None), (CUSTOM, str(SAMPLE.parent))])
    both = custom_tasks_module([("hala_exp.evaluation.sample_tasks", None), (CUSTOM, None)])
    assert len(both.TASKS_TABLE) == 6 + 57
