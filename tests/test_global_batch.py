"""The global batch: its split over a step's processes, refusals at validation, what enters keys, and
where the split is shown. No torch (the processes themselves: test_global_batch_processes.py)."""

from __future__ import annotations

import pytest
from test_stages_registry import own_changes

from hala_exp.config import ConfigError, compose, validate
from hala_exp.console.headline import headline
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys
from hala_exp.training.batch import BatchError, BatchSplit, batch_metrics, from_metrics, split


def test_the_accumulation_follows_from_the_processes():
    assert split(256, 8, 8) == BatchSplit(256, 8, 8, 4)
    assert split(256, 8, 1) == BatchSplit(256, 8, 1, 32)
    assert split(512, 2, 16).grad_accum == 16
    assert split(256, 8, 8).describe() == "global 256 = micro 8 x 8 processes x 4 accumulated"
    assert from_metrics(batch_metrics(split(32, 4, 2))) == split(32, 4, 2)
    assert from_metrics({"train_loss": 1.0}) is None


def test_a_split_that_cannot_be_is_refused_naming_key_value_and_fix():
    with pytest.raises(BatchError, match=r"dpo\.global_batch = 12: dpo\.micro_batch = 8 x 1 .* Fix: set "
                                         r"dpo\.global_batch to a multiple of 8, or use dpo\.micro_batch=6"):
        split(12, 8, 1, "dpo")
    with pytest.raises(BatchError, match=r"a number of GPUs that divides 16"):
        split(16, 16, 3, "translator")


@pytest.mark.parametrize(("overrides", "key"), [
    (["model.grad_accum=4"], "model.grad_accum"),
    (["model.batch_size=16"], "model.batch_size"),
    (["translator.grad_accum=4"], "translator.grad_accum"),
    (["dpo=tiny", "dpo.grad_accum=2"], "dpo.grad_accum"),
    (["experiment=allam_tiny", "allam.cpt.grad_accum=2"], "allam.cpt.grad_accum"),
])
def test_a_removed_setting_is_refused_saying_what_replaced_it(overrides, key):
    group = key.rsplit(".", 1)[0]
    with pytest.raises(ConfigError, match=rf"{key} = \d+ is no longer a setting: .*{group}\.micro_batch.* Fix: "
                                          rf"remove {key} and set {group}\.global_batch"):
        validate(compose(overrides), check_data=False)


def test_the_processes_of_the_step_that_trains_are_checked_at_validation():
    # locally: runtime.gpus_per_node x runtime.nodes processes
    with pytest.raises(ConfigError, match=r"model\.global_batch = 8: model\.micro_batch = 8 x 2 training "
                                          r"process\(es\).*the sft step trains in 2 process\(es\): "
                                          r"runtime\.gpus_per_node = 2 x runtime\.nodes = 1"):
        validate(compose(["runtime.gpus_per_node=2", "translator.micro_batch=8"]), check_data=False)
    validate(compose(["runtime.gpus_per_node=2", "translator.micro_batch=8", "model.micro_batch=4"]),
             check_data=False)
    # one job per step: the processes its resources give it (the 9b SFT: 2 nodes x 8 GPUs)
    slurm = ["experiment=hala_9b", "cluster.submit=slurm"]
    validate(compose([*slurm, "model.micro_batch=32"]), check_data=False)  # 32 x 16 = 512
    with pytest.raises(ConfigError, match=r"model\.global_batch = 512: model\.micro_batch = 64 x 16 .*"
                                          r"resources\.stages\.sft\.gpus_per_node = 8 x "
                                          r"resources\.stages\.sft\.nodes = 2"):
        validate(compose([*slurm, "model.micro_batch=64"]), check_data=False)


def test_compiling_the_run_refuses_the_same_split_for_the_step_that_trains(tmp_path):
    """The CLI leaves the batches to the compiler (validate(batches=False)): the same message, per step."""
    from hala_exp.plan.compiler import compile_plan

    bad = compose([f"store={tmp_path}", "runtime.gpus_per_node=2", "translator.micro_batch=8"])
    validate(bad, check_data=False, batches=False)
    with pytest.raises(ConfigError, match=r"model\.global_batch = 8: .*the sft step trains in 2 process\(es\)"):
        compile_plan(bad)
    # one job per step: the split its own job gives it, refused before the jobs are sized (exit 2, not a traceback)
    with pytest.raises(ConfigError, match=r"model\.global_batch = 512: .*resources\.stages\.sft\.nodes = 2"):
        compile_plan(compose([f"store={tmp_path}", "experiment=hala_9b", "cluster.submit=slurm", "model.micro_batch=64"]))
    # a training group no step uses is never refused: no dpo step, no dpo check
    assert "dpo" not in {s.stage for s in compile_plan(compose([f"store={tmp_path}", "dpo.micro_batch=3"])).steps}


@pytest.mark.parametrize(("override", "own"), [
    ("model.global_batch=16", {"sft"}),
    ("model.micro_batch=4", set()),  # memory per device, not weights (benchmarks/micro_batch.py)
    ("translator.micro_batch=4", set()),
    ("runtime.gpus_per_node=2", set()),  # the cluster's shape
])
def test_the_key_holds_the_global_batch_not_the_micro_batch_nor_the_gpus(override, own):
    assert own_changes(["translator.micro_batch=2", "model.micro_batch=1"], override) == own


def test_the_micro_batch_reaches_the_training_steps_under_options():
    steps = {s.name: s for s in build_graph(compose(["model.micro_batch=2", "dpo=tiny"]))}
    assert steps["sft"].options == {"micro_batch": 2} and "micro_batch" not in steps["sft"].config["model"]
    assert steps["dpo"].options == {"micro_batch": 4} and steps["dpo"].config["dpo"]["global_batch"] == 4
    assert steps["build.translator_base"].options == {"micro_batch": 16, "group": "translator"}
    cpt = {s.name: s for s in build_graph(compose(["experiment=allam_tiny"]))}["cpt"]
    assert cpt.options == {"micro_batch": 8} and "micro_batch" not in cpt.config["cpt"]


def test_the_same_global_batch_is_one_key_on_any_gpu_count():
    one = step_keys(build_graph(compose(["experiment=hala_1.2b"])))
    eight = step_keys(build_graph(compose(["experiment=hala_1.2b", "runtime=cluster", "model.micro_batch=4"])))
    assert one == eight


def test_the_console_line_and_the_plan_show_the_split(tmp_path):
    from hala_exp.pipeline.runner import plan_rows
    from hala_exp.plan.compiler import compile_plan

    line = headline("sft", {"train_loss": 1.5849, **batch_metrics(split(256, 8, 8))})
    assert line == "train_loss 1.585, batch global 256 = micro 8 x 8 processes x 4 accumulated"
    rows = {r["name"]: r for r in plan_rows(compile_plan(compose(["experiment=hala_9b", "cluster.submit=slurm", f"store={tmp_path}"]), explain=True))}
    assert rows["sft"]["batch"] == BatchSplit(512, 2, 16, 16)
    assert rows["train_translator"]["batch"] == BatchSplit(512, 16, 8, 4)
    assert "batch" not in rows["merge"]
