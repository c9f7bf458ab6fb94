"""Evaluation stage on tiny models: lighteval on the bundled ArabicMMLU sample, and EN->AR translation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf
from snapshots import snapshot_of

from hala_exp.config import compose
from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.json_files import read_jsonl

SAMPLE = SAMPLES_DIR / "arabic_mmlu" / "sample.jsonl"
CUSTOM = "hala_exp.evaluation.sample_tasks"


def _slugs(path: Path) -> set[str]:
    from hala_exp.evaluation.subject_tasks import subject_slug

    return {subject_slug(r["subject"]) for r in read_jsonl(path)}


def _stage_cfg(*overrides: str) -> DictConfig:
    cfg = compose(["eval=smoke", "engine.device=cpu", *overrides])
    return OmegaConf.create({"eval": OmegaConf.to_container(cfg.eval, resolve=True),
                             "engine": OmegaConf.to_container(cfg.engine, resolve=True),
                             "system": {"name": "base", "prompt": "Translate everything that follows into Arabic: {text}"}})


def _listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_sample_task_gives_a_score_per_subject(tiny_lfm2: Path, tmp_path: Path):
    from hala_exp.evaluation.lighteval_run import score_tasks

    before = _listing(tiny_lfm2)
    out = tmp_path / "out"
    scores = score_tasks(str(tiny_lfm2), ["arabic_mmlu_sample|0"], out, custom=[(CUSTOM, None)],
                           batch_size=16, device="cpu")
    subjects = _slugs(SAMPLE)
    assert len(subjects) == 6
    per_subject = [scores[f"arabic_mmlu_sample.{s}.acc_norm"] for s in sorted(subjects)]
    assert all(0.0 <= v <= 1.0 for v in per_subject)
    # roll-up: unweighted mean of the subjects (lighteval's _average), not pooled accuracy
    assert scores["arabic_mmlu_sample.acc_norm"] == pytest.approx(sum(per_subject) / len(per_subject))
    assert set(scores) == {f"arabic_mmlu_sample.{s}.acc_norm" for s in subjects} | {"arabic_mmlu_sample.acc_norm"}
    # details (one file per subject) and results kept for re-scoring; nothing written into the model
    (run,) = list((out / "details").iterdir())
    assert len(list(run.glob("details_*.parquet"))) == 6
    assert len(list((out / "results").glob("results_*.json"))) == 1
    assert json.loads((out / "metrics.json").read_text())["metrics"] == scores
    assert _listing(tiny_lfm2) == before
    assert not (out / "_model").exists()


def _logprobs(out: Path) -> list[list[list[float]]]:
    import pandas as pd

    runs = sorted((out / "details").iterdir())
    return [[list(r["logprobs"]) for r in pd.read_parquet(next(run.glob("*biology*")))["model_response"]]
            for run in runs]


def test_new_weights_in_the_same_path_are_scored_anew(tiny_lfm2: Path, tiny_lfm2_other: Path, tmp_path: Path):
    """lighteval keys its cache on the model config (same path, same config): it must not be reused."""
    from hala_exp.evaluation.lighteval_run import score_tasks

    model, out = tmp_path / "model", tmp_path / "out"  # same model path and same out_dir both times
    shutil.copytree(tiny_lfm2, model)
    first = score_tasks(str(model), ["arabic_mmlu_sample|0"], out, custom=[(CUSTOM, None)], batch_size=16)
    shutil.copy(tiny_lfm2_other / "model.safetensors", model / "model.safetensors")
    second = score_tasks(str(model), ["arabic_mmlu_sample|0"], out, custom=[(CUSTOM, None)], batch_size=16)
    assert first != second
    old, new = _logprobs(out)
    assert len(old) == len(new) == 60
    assert all(a != b for a, b in zip(old, new))  # every answer re-scored, none served from a cache


def test_stage_uses_data_dir_and_skips_without_tasks(tiny_lfm2: Path, tmp_path: Path):
    from hala_exp.stages.evaluate import run_lighteval

    data = tmp_path / "data"
    data.mkdir()
    rows = [r for r in read_jsonl(SAMPLE) if r["subject"] in ("History", "Driving Test")]
    (data / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                     encoding="utf-8")
    scores = run_lighteval(_stage_cfg(f"eval.lighteval.custom_tasks.0.data_dir={data}", "eval.lighteval.max_samples=4"),
                           {"model": str(tiny_lfm2)}, tmp_path / "out")
    assert set(scores) == {"arabic_mmlu_sample.history.acc_norm", "arabic_mmlu_sample.driving_test.acc_norm",
                           "arabic_mmlu_sample.acc_norm", "smoke.arabic_mmlu_sample", "smoke.average"}
    # the suite roll-up (eval.lighteval.suite): mean of the subjects, then of the tasks, in percent
    assert scores["smoke.arabic_mmlu_sample"] == pytest.approx(100 * scores["arabic_mmlu_sample.acc_norm"])
    assert scores["smoke.average"] == scores["smoke.arabic_mmlu_sample"]
    assert all(v in (0.0, 0.25, 0.5, 0.75, 1.0) for k, v in scores.items() if k.count(".") == 2)  # 4 items
    assert run_lighteval(_stage_cfg("eval.lighteval.tasks=[]"), {"model": str(tiny_lfm2)}, tmp_path / "x") == {}


_SAMPLER = """
import json, sys
from omegaconf import OmegaConf
from hala_exp.data.adapters import load_parallel
from hala_exp.stages.evaluate import sample_ids
rows = load_parallel(OmegaConf.create(json.loads(sys.argv[1])), "translation")
ids = [r["id"] for r in rows]
if sys.argv[4] == "reversed":
    ids.reverse()
print(json.dumps(sample_ids(ids, int(sys.argv[2]), int(sys.argv[3]))))
"""


def test_translation_stage_writes_sampled_items_and_scores(tiny_lfm2: Path, tmp_path: Path):
    from hala_exp.stages.evaluate import run_translation

    cfg = _stage_cfg("eval.translation.n=6", "eval.translation.max_new_tokens=8")
    out = tmp_path / "out"
    out.mkdir()
    pairs = snapshot_of(cfg.eval.translation.source, "parallel", "translation", tmp_path / "pairs")
    scores = run_translation(cfg, {"model": str(tiny_lfm2), "source": pairs}, out)
    assert set(scores) == {"translation.bleu", "translation.chrf", "translation.rougeL", "translation.n",
                           "translation.too_long"}
    assert scores["translation.n"] == 6
    assert all(0.0 <= v <= 100.0 for v in scores.values())
    ids = json.loads((out / "sample_ids.json").read_text())
    items = read_jsonl(out / "translations.jsonl")
    assert [r["id"] for r in items] == ids and len(set(ids)) == 6
    assert all(set(r) == {"id", "en", "reference", "hypothesis", "finished", "bleu", "chrf"} for r in items)
    assert all(0.0 <= r["bleu"] <= 100.0 and 0.0 <= r["chrf"] <= 100.0 for r in items)  # per item
    src = cfg.eval.translation.source
    assert all(src.offset <= int(i.rsplit("-", 1)[1]) < src.offset + src.rows for i in ids)

    # the same ids in fresh processes, whatever the hash seed or the order rows arrive in
    source = json.dumps(OmegaConf.to_container(src))
    picked = []
    for hash_seed, order in (("1", "file"), ("2", "reversed")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run([sys.executable, "-c", _SAMPLER, source, "6", str(cfg.eval.translation.seed), order],
                              capture_output=True, text=True, check=True, env=env)
        picked.append(json.loads(proc.stdout))
    assert picked[0] == picked[1] == ids
