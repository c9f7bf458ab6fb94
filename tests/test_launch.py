"""Slurm-free parts of the launcher: per-stage requests, their check, the bounded requeue."""

from __future__ import annotations

import re

import pytest

from hala_exp.config import compose
from hala_exp.launch import LaunchError
from hala_exp.launch.job import StepJob
from hala_exp.launch.plan import cluster_plan, cluster_side, problems
from hala_exp.launch.queue import PartitionLimits, _minutes
from hala_exp.launch.resources import check_request, stage_request
from hala_exp.recipes import build_graph

NODE = PartitionLimits("gpu", nodes=4, cpus_per_node=96, mem_mb_per_node=2_000_000, gpus_per_node=8,
                       max_time_min=2880)


def test_stage_requests_scale_with_model_size():
    small = compose(["experiment=hala_1.2b"]).resources
    big = compose(["experiment=hala_9b"]).resources
    assert stage_request(small, "sft").nodes == 1 and stage_request(big, "sft").nodes == 2
    assert stage_request(big, "translate_bootstrap").gpus_per_node == 8
    assert stage_request(big, "merge").gpus_per_node == 0
    assert stage_request(big, "evaluate_lighteval").gpus_per_node == 1
    # an entry's unset fields come from the preset's default
    assert stage_request(big, "sft").tasks_per_node == big.default.tasks_per_node
    for r in (small, big):
        for stage in ("quantize_teacher", "translate_bootstrap", "judge", "train_translator",
                      "translate_corpus", "sft", "merge", "evaluate_translation", "evaluate_lighteval"):
            check_request(stage, stage, stage_request(r, stage), NODE)


def test_tiny_requests_fit_a_two_core_node():
    tiny = compose([]).resources
    laptop = PartitionLimits("debug", 1, 2, 20_000, 0, None)
    for stage in ("build_model", "sft", "merge", "evaluate_lighteval"):
        check_request(stage, stage, stage_request(tiny, stage), laptop)


@pytest.mark.parametrize(("override", "field"), [
    ("resources.stages.sft.gpus_per_node=16", "gpus_per_node = 16"),
    ("resources.stages.sft.cpus_per_task=200", "cpus_per_task = 200"),
    ("resources.stages.sft.mem_gb=4000", "mem_gb = 4000"),
    ("resources.stages.sft.nodes=8", "nodes = 8"),
    ("resources.stages.sft.timeout_min=5000", "timeout_min = 5000"),
])
def test_impossible_request_names_the_key_the_value_and_the_fix(override, field):
    res = compose(["experiment=hala_9b", override]).resources
    with pytest.raises(LaunchError) as e:
        check_request("sft", "sft", stage_request(res, "sft"), NODE)
    assert f"resources.stages.sft.{field}" in str(e.value) and "Fix:" in str(e.value)
    assert "partition 'gpu'" in str(e.value)


def test_requeues_are_bounded(monkeypatch):
    job = StepJob({"name": "sft", "stage": "sft", "key": "k"}, max_requeues=2)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    again = job.checkpoint()
    assert again is not None and again.function is job
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert job.checkpoint() is None  # submitit then fails the job instead of requeuing it


def test_slurm_time_limits_parse():
    assert [_minutes(x) for x in ("infinite", "1-00:00:00", "2:00:00", "30:00", "45")] == [
        None, 1440, 120, 30, 45]


def _stage_job(cfg, stage: str, run_dir):
    """The Slurm job callable of `stage`'s step, from the compiled plan of `cfg` (one job per step)."""
    from hala_exp.launch.submit import _job
    from hala_exp.plan.compiler import compile_plan

    plan = compile_plan(compose([*cfg, "cluster.submit=slurm", f"store={run_dir / 'store'}"]))
    step = next(s for s in plan.steps if s.stage == stage)
    return _job(plan, step, {"name": step.name}, run_dir)


def test_a_job_runs_its_stage_in_its_environment_and_trains_on_what_it_was_given(tmp_path):
    overrides = ["experiment=hala_9b", "runtime=cluster", "runtime.envs.core=/envs/core/bin/python",
                 "runtime.envs.vllm=/envs/vllm/bin/python"]
    cfg = compose(overrides)
    judge = _stage_job(overrides, "judge", tmp_path)
    assert judge.python == "/envs/vllm/bin/python" and judge.launch is None
    assert judge.work_dir == str(tmp_path / "steps")
    sft_req = stage_request(cfg.resources, "sft")  # 9B: two nodes of 8 GPUs
    sft = _stage_job(overrides, "sft", tmp_path)
    assert sft.python == "/envs/core/bin/python" and sft.launch[:3] == ["/envs/core/bin/python", "-m",
                                                                          "accelerate.commands.launch"]
    assert sft.launch[sft.launch.index("--num_processes") + 1] == str(8 * sft_req.nodes)
    assert sft.launch[sft.launch.index("--num_machines") + 1] == str(sft_req.nodes)
    assert any(a.endswith("fsdp.yaml") for a in sft.launch)
    for preset in ("hala_9b", "hala_1.2b"):  # more than one launcher task a node: refused by the plan's check
        too_many = compose([f"experiment={preset}", "resources.stages.sft.tasks_per_node=8"])
        sft_step = next(s for s in build_graph(too_many) if s.name == "sft")
        plans = cluster_plan(too_many, [sft_step])
        assert any(re.search("tasks_per_node = 8.*one launcher task per node", m) for m in problems(cluster_side(too_many, None, too_many.cluster), plans, NODE))
    one_gpu = _stage_job(["experiment=hala_1.2b", "resources.stages.sft.gpus_per_node=1"], "sft", tmp_path)
    assert one_gpu.python is None and one_gpu.launch is None  # in the job's own process, as before


def test_each_rank_of_a_job_gets_its_share_of_the_cpus(tmp_path):
    """A 9B SFT job: 64 CPUs per task, 8 ranks on each of its 2 nodes: 8 threads per rank, not 64."""
    from hala_exp.launch.job import omp_threads

    cfg = compose(["experiment=hala_9b"])
    sft_req = stage_request(cfg.resources, "sft")
    sft = _stage_job(["experiment=hala_9b"], "sft", tmp_path)
    assert (sft_req.cpus_per_task, sft_req.nodes) == (64, 2)
    assert omp_threads(str(sft_req.cpus_per_task), sft.launch) == "8"
    judge_req = stage_request(cfg.resources, "judge")
    judge = _stage_job(["experiment=hala_9b"], "judge", tmp_path)
    assert omp_threads(str(judge_req.cpus_per_task), judge.launch) == str(judge_req.cpus_per_task)  # one process
    assert omp_threads("4", sft.launch) == "1" and omp_threads(None, sft.launch) is None


def test_the_merge_job_asks_for_what_the_model_size_needs():
    """0.5 GB + the bf16 base + the float32 fine-tune (what TRL saves) + one output shard, +20%: 9B
    with 200M and with 5 GB shards."""
    from hala_exp.launch.resources import estimated_mem_gb
    from hala_exp.merging.memory import merge_peak_gb

    cfg = compose(["experiment=hala_9b"])
    req = stage_request(cfg.resources, "merge", estimated_mem_gb(cfg, "merge"))
    assert merge_peak_gb(8.7, "bfloat16", "float32", "bfloat16", 200_000_000) == pytest.approx(52.9)
    assert req.mem_gb == 64.0 and "estimate" in req.origin["mem_gb"]  # 52.9 + 20%
    one_file = compose(["experiment=hala_9b", "merge.options.out_shard_size=5000000000"])
    assert estimated_mem_gb(one_file, "merge") == 70.0  # 0.5 + 17.4 + 34.8 + one 5 GB shard = 57.7, +20%
    small = compose(["experiment=hala_1.2b"])
    assert stage_request(small.resources, "merge", estimated_mem_gb(small, "merge")).mem_gb == 10.0  # 7.9 + 20%
    # the preset or the command line still decides when it says so
    fixed = compose(["experiment=hala_9b", "resources.stages.merge.mem_gb=100"])
    assert stage_request(fixed.resources, "merge", estimated_mem_gb(fixed, "merge")).mem_gb == 100
    tiny = compose([])  # no params_b: the preset's default
    assert estimated_mem_gb(tiny, "merge") is None
    assert stage_request(tiny.resources, "merge", None).mem_gb == tiny.resources.default.mem_gb
    assert estimated_mem_gb(cfg, "sft") is None  # only stages that declare an estimate have one


def test_a_merge_too_big_for_the_partition_is_refused_before_submitting():
    from hala_exp.launch.resources import estimated_mem_gb

    cfg = compose(["experiment=hala_9b"])
    small_node = PartitionLimits("cpu", nodes=4, cpus_per_node=64, mem_mb_per_node=32_000, gpus_per_node=0,
                                 max_time_min=None)
    with pytest.raises(LaunchError, match=r"resources.stages.merge.mem_gb \(unset: the merge stage's estimate\) = 64"):
        check_request("merge", "merge", stage_request(cfg.resources, "merge", estimated_mem_gb(cfg, "merge")),
                      small_node)


def test_the_merge_memory_constant_is_mergekits_default_shard_size():
    from mergekit.options import MergeOptions

    from hala_exp.merging.memory import MERGEKIT_SHARD_BYTES

    assert MergeOptions().out_shard_size == MERGEKIT_SHARD_BYTES
