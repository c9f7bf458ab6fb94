"""Ablation table pieces that need no sweep: the paper's rows, and points read through the W&B API."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import OmegaConf

from hala_exp.config import compose
from hala_exp.evaluation.reference import reference_rows
from hala_exp.table.build import build_table, markdown, to_csv
from hala_exp.table.points import wandb_points
from hala_exp.tracking import flatten


def flat(*overrides: str) -> dict:
    return flatten(OmegaConf.to_container(compose(list(overrides)), resolve=True))


def test_paper_rows_are_shown_for_the_matching_experiment_only():
    hala = reference_rows([flat("experiment=hala_1.2b")], "translator")
    assert {r["label"]: r.get("average", r.get("bleu")) for r in hala} == {
        "LFM2-1.2B (paper)": 46.3, "HALA-1.2B (paper)": 51.4, "HALA translator (LFM2-1.2B) (paper)": 48.2}
    assert reference_rows([flat()], "translator") == []  # the tiny preset matches no paper row
    sizes = reference_rows([flat("experiment=hala_350m"), flat("experiment=hala_9b")], None)
    assert [r["label"] for r in sizes] == ["LFM2-350M (paper)", "HALA-350M (paper)",
                                           "Fanar-1-9B-Instruct (paper)", "HALA-9B (paper)"]


@dataclass
class FakeRun:  # the shape of wandb.apis.public.Run that the reader uses
    id: str
    config: dict
    summary: dict = field(default_factory=dict)


class FakeApi:
    """Stands in for wandb.Api() (a network boundary): serves a group of runs as the server would."""

    def __init__(self, runs):
        self._runs = runs

    def runs(self, path, filters):
        assert path == "team/hala-exp"
        return [r for r in self._runs if r.config.get("logger.group") == filters["group"]]


def test_points_from_the_wandb_api_give_one_row_per_t_traced_to_runs():
    base = {"logger.group": "tiny-slerp_t", "data.name": "tiny"}
    runs = [FakeRun("tr0", {**base, "merge.t": 0.0, "step.name": "evaluate.translator"},
                    {"translation.bleu": 3.5, "_runtime": 1})]
    for i, t in enumerate([0.0, 0.5, 1.0]):
        runs.append(FakeRun(f"m{i}", {**base, "merge.t": t, "step.name": "merge"}, {"t": t}))
        runs.append(FakeRun(f"e{i}", {**base, "merge.t": t, "step.name": "evaluate.student_merged"},
                            {"arabic_mmlu_sample.acc_norm": 0.2 + 0.1 * i, "timing/seconds": 4.0}))
    points = wandb_points("team/hala-exp", "tiny-slerp_t", api=FakeApi(runs))
    table = build_table(points, "student_merged", "translator")
    assert table.axes == ["merge.t"]
    assert [r["values"]["merge.t"] for r in table.rows] == [0.0, 0.5, 1.0]
    assert [round(r["cells"]["average (%)"], 6) for r in table.rows] == [20.0, 30.0, 40.0]
    assert [r["cells"]["translator BLEU"] for r in table.rows] == [3.5, 3.5, 3.5]  # the shared upstream
    assert [r["run_ids"]["evaluate.student_merged"] for r in table.rows] == ["e0", "e1", "e2"]
    md = markdown(table)
    assert "**40.00**" in md and md.count("\n") == 4
    assert to_csv(table).splitlines()[0].startswith("row,merge.t,arabic_mmlu_sample acc_norm (%)")


def test_best_cell_is_the_max_or_the_min_at_the_precision_shown():
    from hala_exp.table.build import Column, Table

    cols = [Column("acc (%)", "e.acc", "evaluate.s", "task"),
            Column("loss (lower is better)", "cpt.loss", "cpt", "metric", lower_better=True),
            Column("same (%)", "e.same", "evaluate.s", "task")]
    rows = [{"values": {"t": t}, "cells": {"acc (%)": a, "loss (lower is better)": loss, "same (%)": s},
             "source": f"run{t}", "run_ids": {}}
            for t, a, loss, s in ((0.0, 30.0, 6.9, 30.061), (0.5, 31.0, 6.2, 30.058), (1.0, None, 6.5, 30.06))]
    t = Table(["t"], cols, rows)
    assert t.best() == {"acc (%)": 31.0, "loss (lower is better)": 6.2}  # 30.061 and 30.058 both show 30.06
    lines = markdown(t).splitlines()
    assert lines[3] == "| 0.5 | **31.00** | **6.20** | 30.06 | run0.5 |"
    assert lines[2] == "| 0.0 | 30.00 | 6.90 | 30.06 | run0.0 |" and lines[4].startswith("| 1.0 |  | 6.50 |")


def test_a_point_knows_the_wandb_group_its_steps_were_logged_in(tmp_path):
    import json

    from hala_exp.table import _group
    from hala_exp.table.points import load_run

    stage = tmp_path / "store" / "cpt" / "k1"
    stage.mkdir(parents=True)
    (stage / "tracking.json").write_text(json.dumps({"group": "allam_tiny-2026-11-23_lang_ratio", "run_id": "r1"}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({
        "stages": {"cpt": {"status": "ran", "key": "k1", "dir": str(stage), "seconds": 1.0, "wandb_run_id": "r1"}},
        "metrics": {"cpt.steps": 12.0}}))
    point = load_run(run)
    assert point.run_ids == {"cpt": "r1"} and point.group == "allam_tiny-2026-11-23_lang_ratio"
    assert _group(point) == point.group  # not `logger.group or name`, which a sweep without a group lacks


def test_a_swept_merge_preset_shows_its_per_layer_t():
    """`+sweep=slerp_split` sweeps the group `merge`; the rows also show merge.t, as mergekit reads it."""
    from hala_exp.table.points import Point

    points = [Point(f"run/{i}", {"merge": preset}, {"heldout.student_merged.arabic.loss": loss},
                    flat(f"merge={preset}"))
              for i, (preset, loss) in enumerate([("slerp_split", 3.4), ("slerp", 3.5)])]
    table = build_table(points, "student_merged", None, metrics=["heldout.student_merged.arabic.loss:min"])
    assert table.axes == ["merge", "merge.t"]  # method, dtype and the rest are the same in both
    md = markdown(table)
    assert "| slerp | 0.5 |" in md
    assert "| slerp_split | self_attn: 0→0.5→0.3→0.7→1; mlp: 1→0.5→0.7→0.3→0; 0.5 |" in md
    assert "self_attn: 0→0.5→0.3→0.7→1; mlp: 1→0.5→0.7→0.3→0; 0.5" in to_csv(table)


def test_a_per_layer_t_given_on_the_command_line_is_shown_as_resolved():
    from hala_exp.table.points import Point

    split = "[{filter:self_attn,value:[0,1]},{value:0.5}]"
    points = [Point(f"run/{i}", {"merge.t": text}, {"heldout.student_merged.arabic.loss": 3.0 + i},
                    flat(f"merge.t={text}")) for i, text in enumerate([split, "0.5"])]
    table = build_table(points, "student_merged", None, metrics=["heldout.student_merged.arabic.loss:min"])
    assert table.axes == ["merge.t"]
    assert "| self_attn: 0→1; 0.5 |" in markdown(table) and "| 0.5 |" in markdown(table)


def test_a_searched_item_of_a_per_layer_t_shows_in_the_grids_merge_t_column():
    """A search's `merge.t.0.value` beside a grid's `merge.t`: one column, each row's t as resolved."""
    from hala_exp.table.points import Point

    split = ["experiment=smollm2_merge", "+search=merge_t_split"]
    search = Point("search/0", {"merge.t.0.value": 0.25}, {"heldout.student_merged.arabic.loss": 3.4},
                   flat(*split, "merge.t.0.value=0.25"))
    grid = Point("grid/0", {"merge.t": 0.5}, {"heldout.student_merged.arabic.loss": 3.5},
                 flat("experiment=smollm2_merge", "merge.t=0.5"))
    table = build_table([search, grid], "student_merged", None, metrics=["heldout.student_merged.arabic.loss:min"])
    assert table.axes == ["merge.t"]
    md = markdown(table)
    assert "| 0.5 | 3.50 |" in md and "| self_attn: 0.25; mlp: 0.5; 0.5 | **3.40** |" in md
