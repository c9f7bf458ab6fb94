"""The Table 2 source: English MMLU aligned with Arabic MMMLU by subject and row, offline fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hala_exp.config import ConfigError, compose, validate
from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.evaluation.mmlu_align import align, load_aligned
from hala_exp.json_files import read_jsonl

FIXTURES = Path(__file__).parent / "fixtures" / "mmlu_align"
EN, AR = FIXTURES / "cais_mmlu_all_test.jsonl", FIXTURES / "mmmlu_AR_XY_test.csv"


def _overrides(*extra: str) -> list[str]:
    return ["eval=translation", f"eval.translation.mmlu.en.path={EN}", "eval.translation.mmlu.en.format=jsonl",
            f"eval.translation.mmlu.ar.path={AR}", "eval.translation.mmlu.ar.format=csv", *extra]


def test_fixture_rows_align_with_the_known_pairs():
    cfg = compose(_overrides())
    validate(cfg)
    items = load_aligned(cfg.eval.translation.mmlu)
    known = {}
    for r in read_jsonl(SAMPLES_DIR / "mmlu_en_ar" / "sample.jsonl"):
        known.setdefault(r["subject"], []).append(r)
    expected = {f"{s}/{k}": (r["en_question"], r["ar_question"])
                for s, rows in known.items() for k, r in enumerate(sorted(rows, key=lambda r: r["index"]))}
    assert len(items) == 11
    assert {i["subject"] for i in items} == {"anatomy", "high_school_geography", "world_religions"}
    for item in items:
        assert (item["en"], item["ar"]) == expected[item["id"]]
        assert item["id"] == f"{item['subject']}/{item['index']}"


def test_unequal_subject_counts_and_missing_columns_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="'anatomy': 2 English rows but 1 Arabic rows"):
        align({"anatomy": ["a", "b"]}, {"anatomy": ["أ"]})
    with pytest.raises(ValueError, match="no Arabic rows"):
        align({"virology": ["a"]}, {"anatomy": ["أ"]})
    cfg = compose(_overrides("eval.translation.mmlu.ar.question_field=question"))
    with pytest.raises(ValueError, match=r"eval.translation.mmlu.ar: columns \['question'\]"):
        load_aligned(cfg.eval.translation.mmlu)
    with pytest.raises(ConfigError, match="eval.translation.mmlu.en.path"):
        validate(compose(_overrides(f"eval.translation.mmlu.en.path={tmp_path / 'absent.jsonl'}")))


def test_translation_stage_scores_sampled_mmlu_items(tiny_lfm2: Path, tmp_path: Path):
    from hala_exp.stages.evaluate import run_translation, sample_ids

    cfg = compose(_overrides("eval.translation.n=4", "eval.translation.max_new_tokens=8", "engine.device=cpu"))
    stage_cfg = OmegaConf.create({"eval": {"translation": OmegaConf.to_container(cfg.eval.translation)},
                                  "engine": OmegaConf.to_container(cfg.engine),
                                  "system": {"name": "teacher", "prompt": cfg.eval.translation.prompt}})
    scores = run_translation(stage_cfg, {"model": str(tiny_lfm2)}, tmp_path)
    assert scores["translation.n"] == 4 and all(0 <= scores[f"translation.{m}"] <= 100 for m in ("bleu", "chrf"))
    ids = json.loads((tmp_path / "sample_ids.json").read_text())
    all_ids = [i["id"] for i in load_aligned(cfg.eval.translation.mmlu)]
    assert ids == sample_ids(all_ids, 4, cfg.eval.translation.seed)
    by_id = {i["id"]: i for i in load_aligned(cfg.eval.translation.mmlu)}
    for row in read_jsonl(tmp_path / "translations.jsonl"):
        assert row["reference"] == by_id[row["id"]]["ar"] and row["en"] == by_id[row["id"]]["en"]


def test_paper_presets_run_the_table2_protocol_with_the_papers_prompts():
    translator = ("You are a professional translation engine. Translate English to Modern Standard Arabic. "
                  "Reply ONLY with the Arabic translation—no quotes, notes, or explanations. "
                  "Translate everything that follows into Arabic: {text}")
    for preset in ("hala_350m", "hala_700m", "hala_1.2b", "hala_9b"):
        cfg = compose([f"experiment={preset}"])
        tr = cfg.eval.translation
        assert (tr.n, tr.mmlu.en.path, tr.mmlu.ar.path, tr.mmlu.ar.subset) == (500, "cais/mmlu", "openai/MMMLU", "AR_XY")
        assert tr.prompt == "Translate everything that follows into Arabic: {text}"
        assert cfg.translator.prompt == translator
