"""W&B as the dashboard: what a step logs while it runs, read back from the offline run files.

Training curves (Transformers' WandbCallback on the step's run), progress of sharded generation,
evaluation tables, the sweep table's charts, and one curve across a failed and a resumed attempt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from planned import planned
from wandb_files import config, history, offline_runs, read_run, table

from hala_exp import stage_records
from hala_exp.data.samples_text import sample_texts
from hala_exp.pipeline.execute import execute
from hala_exp.shards import run_sharded
from hala_exp.tracking import tracking_context

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_DASHBOARDSECRET0123456789"
TRAIN = {"name": "t", "epochs": 1, "max_steps": 6, "warmup_ratio": 0.0, "lr_scheduler": "linear",
         "weight_decay": 0.0, "packing": False, "completion_only_loss": True, "use_cpu": True, "bf16": False,
         "gradient_checkpointing": False, "logging_steps": 1, "save_steps": 0, "seed": 0}
HYPER = {"learning_rate": 1e-3, "global_batch": 2, "micro_batch": 2, "max_length": 64}


def _ctx(root: Path, label: str = "") -> dict:
    return {"backend": "wandb", "project": "dash", "entity": None, "mode": "offline", "dir": str(root / "wb"),
            "group": "dash", "experiment": "dash", "label": label, "upload_artifacts": False,
            "config": {"merge.t": 0.5}}


def _spec(root: Path, fn: str, config: dict, inputs: dict, tracked: bool = True, name: str = "s") -> dict:
    return {"name": name, "stage": name, "fn": fn, "version": 1, "key": "k0", "store": str(root / "store"),
            "config": config, "inputs": inputs, "input_keys": {}, "input_steps": {},
            "tracking": _ctx(root) if tracked else None}


def _rows() -> list[dict]:
    from hala_exp.training.sft import pair

    texts = sample_texts()[:24]
    return [pair(f"Translate: {a}", b) for a, b in zip(texts[::2], texts[1::2], strict=True)]


# Stages defined here, run by `execute` like any pipeline step (their W&B run opened around them).

def sft_stage(cfg, inputs, out):
    from omegaconf import OmegaConf

    from hala_exp.training.sft import Hyper, train_sft

    return train_sft(inputs["model"], _rows(), out / "model", Hyper(**cfg.hyper), OmegaConf.create(cfg.train))


class Preempt:
    """A sink whose trainer callback stops training with an error after step `at` (once, by marker)."""

    def __init__(self, at: int, marker: Path):
        self.at, self.marker = at, marker

    def log(self, metrics, step, axis):
        pass

    def table(self, name, columns, rows):
        pass

    def trainer_callbacks(self):
        from transformers import TrainerCallback

        at, marker = self.at, self.marker

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == at and not marker.exists():
                    marker.write_text("preempted")
                    raise RuntimeError("preempted")

        return [Stop()]


def resumable_sft_stage(cfg, inputs, out):
    """SFT with checkpoints that is preempted once, after step `cfg.stop_at`."""
    from omegaconf import OmegaConf

    from hala_exp.training.sft import Hyper, train_sft

    sink = Preempt(cfg.stop_at, Path(cfg.marker))
    stage_records.attach(sink)
    try:
        return train_sft(inputs["model"], _rows(), out / "model", Hyper(**cfg.hyper), OmegaConf.create(cfg.train),
                         checkpoints=Path(inputs["checkpoints"]))
    finally:
        stage_records.detach(sink)


def cpt_stage(cfg, inputs, out):
    from hala_exp.training.cpt import CptHyper, train_cpt

    texts = sample_texts()
    h = CptHyper(learning_rate=1e-3, global_batch=2, micro_batch=2, max_length=32, max_steps=4, warmup_ratio=0.0,
                 lr_scheduler="linear", weight_decay=0.0, max_grad_norm=1.0, packing=True, use_cpu=True,
                 bf16=False, seed=0, eval_steps=2)
    metrics, _ = train_cpt(inputs["model"], texts[:40], {"arabic": texts[40:44]}, out / "model", h)
    return metrics


def dpo_stage(cfg, inputs, out):
    from hala_exp.training.dpo import DpoHyper, conversational, train_dpo

    texts = sample_texts()
    rows = [conversational(f"Say {i}", texts[i], texts[i + 20]) for i in range(6)]
    h = DpoHyper(beta=0.1, loss_type="sigmoid", learning_rate=1e-3, global_batch=2, micro_batch=2, max_length=64,
                 max_steps=3, use_cpu=True, bf16=False, seed=0)
    return train_dpo(inputs["model"], rows, out / "model", h)


def sharded_stage(cfg, inputs, out):
    """A sharded pass that, like a preempted job, dies after `fail_after` shards on its first attempt."""
    marker = Path(cfg.marker)
    calls = {"n": 0}

    def shard(chunk):
        calls["n"] += 1
        if not marker.exists() and calls["n"] > cfg.fail_after:
            marker.write_text("killed")
            raise RuntimeError("preempted")
        return [dict(r) for r in chunk], {"tokens": 10.0 * len(chunk), "accepted": float(len(chunk) - 1)}

    rows = [{"id": i} for i in range(cfg.rows)]
    _, shards, ran = run_sharded(rows, cfg.size, inputs["shards"], shard, desc="pass")
    return {"rows": float(cfg.rows), "shards_run": float(ran)}


def _train_rows(run_dir: Path) -> list[dict]:
    return [h for h in history(run_dir) if "train/loss" in h]


def test_sft_logs_a_curve_per_logging_step_into_the_steps_run(tiny_lfm2, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    spec = _spec(tmp_path, "test_dashboards:sft_stage", {"hyper": HYPER, "train": TRAIN}, {"model": str(tiny_lfm2)})
    record, _ = execute(spec)
    (run_dir,) = offline_runs(tmp_path / "wb")
    rows = _train_rows(run_dir)
    assert [r["train/global_step"] for r in rows] == [1, 2, 3, 4, 5, 6]  # logging_steps=1
    assert [r["_step"] for r in rows] == [1, 2, 3, 4, 5, 6]  # the W&B step is the trainer's
    for key in ("train/learning_rate", "train/grad_norm", "train/epoch", "train/train_tokens_per_second",
                "train/num_input_tokens_seen"):
        assert all(key in r for r in rows), key
    assert rows[0]["train/loss"] == pytest.approx(record["metrics"]["first_loss"])
    assert rows[-1]["train/loss"] == pytest.approx(record["metrics"]["last_loss"])
    assert rows[0]["train/learning_rate"] > rows[-1]["train/learning_rate"]  # linear decay, step by step
    cfg = config(run_dir)
    assert cfg["merge.t"] == 0.5 and cfg["trainer.learning_rate"] == HYPER["learning_rate"]
    assert cfg["trainer.max_steps"] == TRAIN["max_steps"] and "trainer.hub_token" not in cfg
    assert {k: v for k, v in cfg.items() if k.startswith("step.batch.")} == {  # the split it trained with
        "step.batch.global_batch": 2, "step.batch.micro_batch": 2, "step.batch.processes": 1,
        "step.batch.grad_accum": 1}
    assert read_run(run_dir)["summary"]["train_loss"] == pytest.approx(record["metrics"]["train_loss"])
    assert not [p for p in run_dir.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def test_a_resumed_training_continues_the_curve_its_failed_attempt_logged(tiny_lfm2, tmp_path):
    train = {**TRAIN, "save_steps": 4}
    spec = _spec(tmp_path, "test_dashboards:resumable_sft_stage",
                 {"hyper": HYPER, "train": train, "stop_at": 6, "marker": str(tmp_path / "marker")},
                 {"model": str(tiny_lfm2), "checkpoints": str(tmp_path / "store" / ".partial" / "ckpt")})
    with pytest.raises(RuntimeError, match="preempted"):
        execute(spec)  # logged steps 1-5, checkpointed at 4, stopped in step 6
    record, _ = execute(spec)  # resumes at step 4: steps 5 and 6 run again, only 6 is new to the run
    assert record["metrics"]["resumed_at_step"] == 4
    first, second = (_train_rows(r) for r in offline_runs(tmp_path / "wb"))
    assert [r["_step"] for r in first] == [1, 2, 3, 4, 5] and [r["_step"] for r in second] == [6]
    assert second[0]["train/loss"] == pytest.approx(record["metrics"]["last_loss"])


def test_cpt_logs_train_and_heldout_eval_curves(tiny_lfm2, tmp_path):
    record, _ = execute(_spec(tmp_path, "test_dashboards:cpt_stage", {}, {"model": str(tiny_lfm2)}))
    (run_dir,) = offline_runs(tmp_path / "wb")
    rows = history(run_dir)
    m = record["metrics"]
    assert sorted(k for k in m if "loss_step" in k) == [f"heldout.arabic.loss_step{s}" for s in (0, 2, 4)]
    for s in (0, 2):  # the stage's curve and the dashboard's are the same numbers
        assert next(r["eval/arabic_loss"] for r in rows if r.get("train/global_step") == s and
                    "eval/arabic_loss" in r) == pytest.approx(m[f"heldout.arabic.loss_step{s}"])
    assert [r["train/global_step"] for r in rows if "train/loss" in r] == [1, 2, 3, 4]
    evals = [r["train/global_step"] for r in rows if "eval/arabic_loss" in r]
    assert evals[0] == 0 and {2, 4} <= set(evals)  # before training, then every eval_steps
    assert [r["_step"] for r in rows] == sorted({r["_step"] for r in rows})  # one row per step


def test_dpo_logs_its_curve(tiny_lfm2, tmp_path):
    execute(_spec(tmp_path, "test_dashboards:dpo_stage", {}, {"model": str(tiny_lfm2)}))
    (run_dir,) = offline_runs(tmp_path / "wb")
    rows = _train_rows(run_dir)
    assert [r["train/global_step"] for r in rows] == [1, 2, 3]
    assert all("train/rewards/margins" in r and "train/grad_norm" in r for r in rows)


@pytest.mark.slow
def test_with_logger_none_training_opens_no_run_and_loads_no_tracking(tiny_lfm2, tmp_path):
    """TRL itself imports the wandb module when it is installed; nothing of ours loads, no run starts."""
    spec = _spec(tmp_path, "test_dashboards:sft_stage", {"hyper": HYPER, "train": {**TRAIN, "max_steps": 2}},
                 {"model": str(tiny_lfm2)}, tracked=False)
    code = ("import json, sys; sys.path.insert(0, 'tests')\n"
            "from hala_exp.pipeline.execute import execute\n"
            f"execute(json.loads({json.dumps(json.dumps(spec))}))\n"
            "wandb = sys.modules.get('wandb')\n"
            "print(json.dumps({'run': wandb is not None and wandb.run is not None,\n"
            "                  'ours': 'hala_exp.tracking.trainer_callback' in sys.modules}))")
    env = {**os.environ, "WANDB_DIR": str(tmp_path / "wandb_env"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"run": False, "ours": False}
    assert not (tmp_path / "wandb_env").exists() and not (tmp_path / "wb").exists()


def test_with_logger_none_a_step_loads_no_wandb_at_all(tmp_path):
    p = planned(tmp_path, "logger=none")
    code = ("import json, sys; sys.path.insert(0, 'tests')\n"
            "from hala_exp.pipeline.execute import execute\n"
            f"execute(json.loads({json.dumps(json.dumps(p.spec('build.student_base')))}))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'wandb'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_sharded_progress_is_one_curve_across_a_failed_and_a_resumed_attempt(tmp_path):
    shards = tmp_path / "store" / ".partial" / "pass"
    spec = _spec(tmp_path, "test_dashboards:sharded_stage",
                 {"marker": str(tmp_path / "marker"), "fail_after": 2, "rows": 10, "size": 3},
                 {"shards": str(shards)})
    with pytest.raises(RuntimeError, match="preempted"):
        execute(spec)
    execute(spec)  # the requeued attempt: shards 0-1 are done, 2-3 run
    first, second = offline_runs(tmp_path / "wb")
    a, b = ([h for h in history(r) if "pass/rows_done" in h] for r in (first, second))
    assert [h["pass/rows_done"] for h in a] == [3, 6]
    assert [h["pass/rows_done"] for h in b] == [9, 10]  # done shards are not logged again
    assert [h["_step"] for h in a + b] == [3, 6, 9, 10]
    assert [h["pass/tokens"] for h in a + b] == [30, 60, 90, 100]  # running totals over all shards
    assert [h["pass/accepted"] for h in a + b] == [2, 4, 6, 6]
    assert b[-1]["pass/rows_total"] == 10 and b[-1]["pass/shard_rows_per_s"] > 0
    assert read_run(second)["summary"]["shards_run"] == 2


def test_no_sink_no_reports():
    assert not stage_records.active() and stage_records.trainer_callbacks() == []
    stage_records.log({"x": 1.0}, step=1)  # a no-op without a sink


@pytest.fixture
def snapshots(tmp_path):
    """The tiny preset's graph with its source snapshots taken (untracked, as the pipeline does)."""
    p = planned(tmp_path, f"logger.dir={tmp_path / 'wb'}", "engine.device=cpu", "data.bootstrap.rows=6",
                "engine.shard_rows=2", "teacher.max_new_tokens=6", "eval.translation.n=6",
                "eval.translation.max_new_tokens=6")
    for name in p.steps:
        if name.startswith("source."):
            execute(p.spec(name))
    return p, tracking_context(p.cfg, overrides=["engine.shard_rows=2"])


def test_translation_progress_logs_rows_tokens_and_gate_rejections_per_shard(snapshots, tiny_llama):
    p, ctx = snapshots
    spec = p.spec("translate_bootstrap", ctx)
    spec["inputs"]["model"] = str(tiny_llama)
    record, _ = execute(spec)
    (run_dir,) = offline_runs(Path(ctx["dir"]))
    rows = [h for h in history(run_dir) if "translate/rows_done" in h]
    assert [h["translate/rows_done"] for h in rows] == [2, 4, 6]
    assert all(h["translate/tokens_per_s"] > 0 and h["translate/shard_tokens_per_s"] > 0 for h in rows)
    last, m = rows[-1], record["metrics"]
    assert last["translate/gates.rejected"] == m["gates.rejected"] > 0 and last["translate/rows"] == m["rows"]
    reasons = [k for k in m if k.startswith("gates.rejected.")]
    assert reasons and all(last[f"translate/{k}"] == m[k] for k in reasons)
    assert config(run_dir)["point.engine.shard_rows"] == 2


def test_judge_progress_logs_its_verdict_counts(snapshots, tiny_llama):
    p, ctx = snapshots
    spec = p.spec("judge", ctx)
    spec["inputs"]["model"] = str(tiny_llama)
    spec["config"]["engine"]["shard_rows"] = 8
    record, _ = execute(spec)
    (run_dir,) = offline_runs(Path(ctx["dir"]))
    rows = [h for h in history(run_dir) if "judge/rows_done" in h]
    n = record["metrics"]["candidates"]
    assert len(rows) == -(-n // 8) > 1  # one point per shard
    assert [h["judge/rows_done"] for h in rows] == [min(8 * (i + 1), n) for i in range(len(rows))]
    last = rows[-1]
    assert [last[f"judge/{k}"] for k in ("accepted", "rejected", "invalid")] == \
        [record["metrics"][k] for k in ("accepted", "rejected", "invalid")]
    assert sum(last[f"judge/{k}"] for k in ("accepted", "rejected", "invalid")) == n


def test_translation_evaluation_logs_scored_sample_rows(snapshots, tiny_llama):
    p, ctx = snapshots
    spec = p.spec("evaluate.translator", ctx)
    spec["inputs"]["model"] = str(tiny_llama)
    execute(spec)
    (run_dir,) = offline_runs(Path(ctx["dir"]))
    t = table(run_dir, "translation/samples")
    assert t["columns"] == ["id", "source", "reference", "output", "bleu", "chrf"]
    assert len(t["data"]) == 6 and all(0 <= row[4] <= 100 and 0 <= row[5] <= 100 for row in t["data"])
    assert "translation.bleu" in read_run(run_dir)["summary"]


@pytest.mark.slow
def test_benchmark_evaluation_logs_a_score_per_task_and_subset(snapshots, tiny_lfm2):
    p, ctx = snapshots
    spec = p.spec("evaluate.student_sft", ctx)
    spec["inputs"]["model"] = str(tiny_lfm2)
    record, _ = execute(spec)
    (run_dir,) = offline_runs(Path(ctx["dir"]))
    t = table(run_dir, "eval/scores")
    assert t["columns"] == ["task", "subset", "metric", "value"]
    logged = {(task, subset, metric): v for task, subset, metric, v in t["data"]}
    subsets = [k for k in logged if k[1]]
    assert subsets and len(logged) == len(t["data"]) == len(record["metrics"])
    for (task, subset, metric), v in logged.items():
        key = ".".join(x for x in (task, subset, metric) if x) if metric != "suite" else None
        assert key is None or record["metrics"][key] == pytest.approx(v)
    suite = p.cfg.eval.lighteval.suite
    assert logged[("average", "", "suite")] == pytest.approx(record["metrics"][f"{suite}.average"])
    summary = read_run(run_dir)["summary"]  # the roll-ups, and every other score, as summary
    assert all(summary[k] == pytest.approx(v) for k, v in record["metrics"].items())


def test_score_rows_split_tasks_subsets_and_suite_rollups():
    from hala_exp.stages.evaluate import score_rows

    rows = score_rows({"arabic_mmlu.Driving Test.acc_norm": 0.4, "arabic_mmlu.acc_norm": 0.4,
                       "oall.arabic_mmlu": 40.0, "oall.average": 40.0}, "oall")
    assert rows == [["arabic_mmlu", "Driving Test", "acc_norm", 0.4], ["arabic_mmlu", "", "acc_norm", 0.4],
                    ["arabic_mmlu", "", "suite", 40.0], ["average", "", "suite", 40.0]]


def _points(tmp_path: Path, values: list[dict]) -> list:
    from hala_exp.table.points import Point

    config = {"logger.backend": "wandb", "logger.mode": "offline", "logger.dir": str(tmp_path / "wb"),
              "logger.project": "dash", "logger.group": "dash-sweep", "name": "tiny"}
    return [Point(f"sweep/{i}", v, {"evaluate.student_merged.task.acc_norm": 0.2 + 0.1 * i,
                                    "evaluate.translator.translation.bleu": 3.0 + i},
                  {**config, **v}, {"evaluate.student_merged": f"e{i}"}) for i, v in enumerate(values)]


@pytest.mark.parametrize(("values", "x", "chart"), [
    ([{"merge.t": t} for t in (0.0, 0.5, 1.0)], "merge.t", "line"),
    pytest.param([{"data.leave_out": d, "data.mix.arabic_ratio": r} for d in ("orca", "tulu") for r in (0.5, 1.0)],
                 "data.mix.arabic_ratio", "line", marks=pytest.mark.slow),  # one line per left-out source
    pytest.param([{"data.leave_out": d} for d in (None, "orca", "tulu")], "point", "bar", marks=pytest.mark.slow),
])
def test_the_sweep_table_run_logs_the_table_and_a_chart_per_metric(tmp_path, values, x, chart):
    from hala_exp.table import log_wandb
    from hala_exp.table.build import build_table
    from hala_exp.table.plot import plot

    points = _points(tmp_path, values)
    t = build_table(points, "student_merged", "translator")
    png = plot(t, tmp_path / "ablation.png", "dash")
    log_wandb(t, png, points[0], [p.source for p in points])
    (run_dir,) = offline_runs(tmp_path / "wb")
    run = read_run(run_dir)
    assert run["job_type"] == "table" and run["group"] == "dash-sweep"
    assert len(table(run_dir, "ablation")["data"]) == len(values)
    pts = table(run_dir, "ablation_points")
    names = [c.name for c in t.columns]
    assert pts["columns"] == [x, "series", *names] and len(pts["data"]) == len(values)
    assert [row[names.index("average (%)") + 2] for row in pts["data"]] == \
        [r["cells"]["average (%)"] for r in t.rows]
    panels = {k.removeprefix("_wandb.visualize."): v["panel_config"] for k, v in config(run_dir).items()
              if k.startswith("_wandb.visualize.")}
    assert sorted(panels) == sorted(f"plot/{n}" for n in names)  # one chart per column
    for name in names:
        assert panels[f"plot/{name}"]["panelDefId"] == f"wandb/{chart}/v0"
        fields = panels[f"plot/{name}"]["fieldSettings"]
        assert (fields.get("x") or fields.get("label"), fields.get("y") or fields.get("value")) == (x, name)
        if chart == "line":
            assert fields["stroke"] == ("series" if len(values[0]) > 1 else None)
        assert len(table(run_dir, f"plot/{name}_table")["data"]) == len(values)
