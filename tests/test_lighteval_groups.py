"""lighteval's tasks as the groups of a sharded pass: one single run's scores, over any number of
workers, and a rerun evaluates only the groups not yet committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hala_exp.config import ConfigError, compose, validate
from hala_exp.evaluation.lighteval_groups import group_size, own_scores
from hala_exp.pipeline.dispatch import run_step
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.fanout import unfinished, work, worker_spec, workers_for
from hala_exp.pipeline.store import Store
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys
from hala_exp.shards import done_shards

STEP = "evaluate.student_base"
SUBJECTS = 6  # subsets of the bundled ArabicMMLU sample task


def _spec(model: Path, store_dir: Path, *overrides: str) -> tuple[dict, Store]:
    cfg = compose([f"store={store_dir}", "eval=smoke", "engine.device=cpu", "eval.lighteval.max_samples=4",
                   f"targets=[{STEP}]", *overrides])
    validate(cfg)
    steps = build_graph(cfg)
    store = Store(cfg.store)
    spec = make_spec(next(s for s in steps if s.name == STEP), step_keys(steps), store)
    spec["inputs"]["model"] = str(model)
    return spec, store


def _details(out: Path) -> list[str]:
    """The tasks with a details file (its name ends with the run's timestamp)."""
    return sorted(p.name.rsplit("_", 1)[0] for p in (out / "details").glob("*/details_*.parquet"))


def test_group_size_and_scores_by_name():
    assert group_size(117, None, 1) == 117 and group_size(117, None, 4) == 30 and group_size(3, None, 8) == 1
    assert group_size(117, 10, 4) == 10
    with pytest.raises(ValueError, match="tasks_per_shard"):
        group_size(5, 0, 1)
    results = {"t:a|0": {"acc": 0.5}, "t:b:0": {"acc": 1.0}}
    assert own_scores(results, "t:a|0") == {"acc": 0.5} and own_scores(results, "t:b|0") == {"acc": 1.0}
    with pytest.raises(RuntimeError, match="t:c"):
        own_scores(results, "t:c|0")


def test_tasks_per_shard_is_checked_and_out_of_the_key(tmp_path):
    with pytest.raises(ConfigError, match="eval.lighteval.tasks_per_shard = 0"):
        validate(compose(["eval=smoke", "eval.lighteval.tasks_per_shard=0"]))
    keys = {n: step_keys(build_graph(compose([f"store={tmp_path}", "eval=smoke", *o])))[STEP]
            for n, o in (("default", []), ("grouped", ["eval.lighteval.tasks_per_shard=2"]))}
    assert keys["default"] == keys["grouped"]
    assert workers_for(compose(["resources.stages.evaluate_lighteval.workers=3"]).resources,
                       "evaluate_lighteval") == 3


def test_two_workers_give_the_single_run_scores_and_a_rerun_redoes_only_missing_groups(tiny_lfm2, tmp_path):
    from hala_exp.stages.evaluate import run_lighteval

    one, store1 = _spec(tiny_lfm2, tmp_path / "one")
    two, store2 = _spec(tiny_lfm2, tmp_path / "two")
    three, store3 = _spec(tiny_lfm2, tmp_path / "three", "eval.lighteval.tasks_per_shard=4")
    assert one["key"] == two["key"] == three["key"]
    single = run_lighteval(OmegaConf.create(one["config"]), {"model": str(tiny_lfm2)}, tmp_path / "single")
    assert len(_details(tmp_path / "single")) == SUBJECTS

    record1, _ = run_step(one, None, tmp_path / "steps1")  # as a step: one group
    assert record1["metrics"] == single
    # worker 1 of 2 has already committed its group (as after a kill of the others): only worker 0 runs
    shards = Path(two["inputs"]["shards"])
    assert work(worker_spec(two, 1, 2)) and done_shards(shards) == [1] and unfinished(two, 2) == [0]
    record2, ran = run_step(two, None, tmp_path / "steps2", workers=2)
    assert ran and record2["metrics"] == single
    assert sorted(p.name for p in (tmp_path / "steps2").glob("*.log")) == ["evaluate.student_base.w0of2.log"]
    out2 = store2.path(STEP, two["key"])
    meta = json.loads((out2 / "metrics.json").read_text())
    lighteval_own = {k: v for k, v in single.items() if not k.startswith("smoke.")}  # the suite roll-up aside
    assert (meta["groups"], meta["tasks_per_group"], meta["metrics"]) == (2, 3, lighteval_own)
    assert _details(out2) == _details(tmp_path / "single")  # every subset's details, once
    assert len(list((out2 / "results").glob("results_*.json"))) == 2
    assert not shards.exists()  # gone with the commit

    record3, _ = run_step(three, None, tmp_path / "steps3")  # groups of 4 and 2 in one process
    assert record3["metrics"] == single
    assert json.loads((store3.path(STEP, three["key"]) / "metrics.json").read_text())["groups"] == 2
