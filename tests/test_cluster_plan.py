"""The cluster plan (`hala-exp plan=true` on Slurm): every preset on every cluster config, the README's
cluster commands as written, and overrides that must be refused. No network, no sinfo: the partition's
limits come from the cluster configs. No torch."""

from __future__ import annotations

import copy
import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from hala_exp.config import compose, validate
from hala_exp.launch import queue
from hala_exp.launch.plan import cluster_plan, cluster_side, pipeline_job, problems, render
from hala_exp.launch.queue import limits_for
from hala_exp.recipes import build_graph
from hala_exp.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
# How the README runs on GPU nodes: one environment per stack, vLLM for generation.
ON_GPUS = ["runtime=cluster", "engine=vllm"]


@pytest.fixture(autouse=True)
def _no_slurm_here(monkeypatch):
    """No Slurm controller to ask (a laptop, CI): the boundary is `sinfo`; and the cluster runtime's
    two interpreters are this one."""
    monkeypatch.setattr(queue, "slurm_reachable", lambda: False)
    monkeypatch.setenv("HALA_PY_CORE", sys.executable)
    monkeypatch.setenv("HALA_PY_VLLM", sys.executable)


@functools.cache
def _composed(choices: tuple[str, ...]):
    return compose(list(choices), hydra=True)


def planned(overrides: list[str], reuse: bool = False):
    """Compose, validate and plan as `plan=true` does; (config, plans, problems, limits, pipeline job).
    `reuse`: compose the group choices once and set plain values (`a.b=1`) on a copy, which is quicker."""
    values = [o for o in overrides if reuse and re.match(r"^[\w.]+\.[\w]+=", o)]
    cfg = _composed(tuple(o for o in overrides if o not in values)) if reuse else compose(overrides, hydra=True)
    if values:
        cfg = copy.deepcopy(cfg)
        for o in values:
            key, value = o.split("=", 1)
            OmegaConf.update(cfg, key, yaml.safe_load(value), merge=False)
    validate(cfg, check_data=False)
    launcher = cfg.hydra.launcher
    limits = limits_for(cfg.cluster, submitting=False)
    plans = cluster_plan(cfg, build_graph(cfg), launcher)
    return cfg, plans, problems(cluster_side(cfg, launcher, cfg.cluster), plans, limits), limits, pipeline_job(launcher)


def assert_rules(cfg, plans, limits, whole) -> None:
    """The rules, restated here on the rendered plan (not through the code that checks them)."""
    rt = cfg.runtime
    for p in plans:
        info, j = STAGES[p.stage], p.job
        assert j.nodes <= limits.nodes and j.gpus_per_node <= limits.gpus_per_node, p.name
        assert j.cpus_per_task * j.tasks_per_node <= limits.cpus_per_node and j.mem_gb * 1024 <= limits.mem_mb_per_node
        if p.engine is not None and (j.gpus_per_node or p.engine.device == "cuda"):
            assert p.engine.tensor_parallel_size <= j.gpus_per_node, p.name
        if info.trains is not None:
            gpus, nodes = (rt.gpus_per_node, rt.nodes) if whole else (j.gpus_per_node, j.nodes)
            assert gpus == j.gpus_per_node or not whole, f"{p.name}: trains as {gpus} processes a node of {j.gpus_per_node} GPUs"
            assert p.processes == (gpus * nodes if gpus * nodes > 1 else 1), p.name
            b = p.batch
            assert b.processes == p.processes and b.global_batch == b.micro_batch * b.grad_accum * p.processes
        if whole is None:
            assert info.gpus != "none" or j.gpus_per_node == 0, f"{p.name} holds a GPU it never uses"
            if limits.gpus_per_node:
                assert p.stage in cfg.resources.stages, f"{p.stage} has no entry in resources={cfg.resources.name}"
        if p.gpu_gb is not None and limits.gpu_mem_gb:
            assert p.gpu_gb <= limits.gpu_mem_gb, p.name
        if info.trains is not None and p.gpus_used == 0 and cfg[info.trains.model].get("params_b"):
            assert cfg[info.trains.model].params_b * 16 <= j.mem_gb, f"{p.name}: training state beyond its job's memory"


@pytest.mark.parametrize("cluster", ["h100", "local_slurm"])
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_plans_on_every_cluster_or_is_refused_by_name(preset, cluster):
    extra = ON_GPUS if cluster == "h100" else []
    cfg, plans, found, limits, whole = planned([f"experiment={preset}", f"cluster={cluster}", *extra])
    asks_gpus = any(p.job.gpus_per_node for p in plans)
    if cluster == "local_slurm" and asks_gpus:  # an 8xH100 preset on the CPU-only debug partition
        assert any(re.search(r"^step \S+ \(\w+\): resources\.stages\.\w+\.\w+ = .* on partition 'debug'", m)
                   for m in found), found
        assert all(re.search(r"^(step \S+ \(\w+\): )?[\w.]+ = \S+: .*Fix: ", m) for m in found), found
        return
    assert not found, "\n".join(found)
    assert_rules(cfg, plans, limits, whole)


def test_the_teacher_is_served_on_its_tensor_parallel_gpus_and_nothing_holds_an_unused_one(tmp_path, monkeypatch):
    vllm = tmp_path / "vllm-python"  # an interpreter other than this one, which the plan names (never run)
    vllm.touch()
    monkeypatch.setenv("HALA_PY_VLLM", str(vllm))
    cfg, plans, found, _, _ = planned(["experiment=hala_9b", "cluster=h100", *ON_GPUS])
    by = {p.name: p for p in plans}
    for name in ("validate_teacher", "translate_bootstrap", "evaluate.teacher", "evaluate.teacher_fp8"):
        assert by[name].job.gpus_per_node == 8 == by[name].engine.tensor_parallel_size, name
    assert by["evaluate.translator"].job.gpus_per_node == 1  # the same stage, a one-GPU engine
    assert by["evaluate.teacher"].job.origin["gpus_per_node"] == "teacher.tensor_parallel_size"
    assert all(p.job.gpus_per_node == 0 for p in plans if p.stage == "snapshot")
    corpus = by["translate_corpus"]
    assert (corpus.job.gpus_per_node, corpus.engine.tensor_parallel_size, corpus.engine.workers) == (1, 1, 8)
    sft = by["sft"]  # 8.7B over two nodes of 8: FSDP, 16 processes, 139 GB of training state / 16
    assert (sft.processes, sft.strategy, sft.batch.global_batch, sft.batch.grad_accum) == (16, "fsdp", 512, 16)
    assert sft.gpu_gb == pytest.approx(8.7 * 16 / 16)
    # host memory sized from the model: 0.5 + 222 GB bf16 read + one 50 GB shard, +20%
    assert by["quantize_teacher"].job.mem_gb == 327
    table = render(plans)
    assert re.search(r"^sft\s+2x8 GPU, 64 CPU, 1000 GB, 48:00\s+current\s+16 processes, fsdp\s+-\s+"
                     r"2 x 16 x 16 = 512\s+8.7 GB$", table, re.M), table
    assert re.search(rf"^evaluate\.teacher\s+1x8 GPU, 8 CPU, 96 GB, 3:00\s+vllm \({vllm}\)\s+1 process on 8 GPUs\s+"
                     r"vllm tp=8\s+-\s+27.8 GB$", table, re.M), table


@pytest.mark.parametrize(("overrides", "expected"), [
    # the 111B teacher through transformers: one GPU
    (["experiment=hala_1.2b", "cluster=h100"], r"engine.backend = transformers: step translate_bootstrap .* 133.2 GB"),
    # an engine split over more GPUs than the pipeline's job has
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "hydra/launcher=slurm_h100", "hydra.launcher.gpus_per_node=4"],
     r"teacher.tensor_parallel_size = 8: step validate_teacher .* hydra.launcher.gpus_per_node = 4"),
    # per step, the GPUs follow the engine: then above what a node has
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "teacher.tensor_parallel_size=16"],
     r"teacher.tensor_parallel_size = 16: more GPUs than the 8 of a node"),
    # training as one process on a job of 8 GPUs (the pipeline's job, runtime=current)
    (["experiment=hala_1.2b", "cluster=h100", "engine=vllm", "hydra/launcher=slurm_h100",
      "hydra.launcher.gpus_per_node=8"], r"runtime.gpus_per_node = 1: step sft \(sft\) trains as 1 process"),
    # 9B trained on one GPU: weights, gradients and AdamW alone are 139 GB
    (["experiment=hala_9b", "cluster=h100", *ON_GPUS, "resources.stages.sft.nodes=1", "resources.stages.sft.gpus_per_node=1"],
     r"resources.stages.sft.gpus_per_node = 1: step sft .* 139.2 GB"),
    (["experiment=hala_9b", "cluster=h100", *ON_GPUS, "train.distributed=ddp"], r"train.distributed = ddp: step sft .* 139.2 GB"),
    (["experiment=hala_9b", "cluster=h100", *ON_GPUS, "resources.stages.sft.nodes=8"],
     r"resources.stages.sft.nodes = 8: more nodes than the 4 there are"),
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "resources.stages.merge.mem_gb=4000"],
     r"resources.stages.merge.mem_gb = 4000.0: more memory than the 2000.0 GB"),
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "resources.stages.sft.tasks_per_node=8"],
     r"resources.stages.sft.tasks_per_node = 8: .* one launcher task per node"),
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "dpo=dahoas", "~resources.stages.dpo"],
     r"resources.stages.dpo: no entry in resources=h100_lfm2"),
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "resources.stages.snapshot.gpus_per_node=1"],
     r"resources.stages.snapshot.gpus_per_node = 1: step source\.\S+ \(snapshot\) holds 1 GPU\(s\) it never uses"),
    (["experiment=hala_1.2b", "cluster=h100", *ON_GPUS, "resources.stages.translate_corpus.gpus_per_node=8"],
     r"translate_corpus.gpus_per_node = 8: .* holds 7 GPU\(s\) .* engine uses 1"),
    # a 1.2B model trained on CPUs in 3 GB (the tiny preset's jobs)
    (["experiment=allam_lfm2_1.2b", "cluster=h100", *ON_GPUS, "resources=tiny"],
     r"resources.default.mem_gb = 3: step cpt \(cpt\) trains on CPUs, .* 19.2 GB"),
], ids=["teacher_on_one_gpu", "tp_above_job", "tp_above_node", "one_process_8_gpus", "9b_one_gpu", "9b_ddp",
        "nodes", "memory", "tasks", "no_entry", "idle_snapshot", "idle_engine", "cpu_training_memory"])
def test_a_plan_that_cannot_work_is_refused_naming_the_key_and_the_fix(overrides, expected):
    _, _, found, _, _ = planned(overrides, reuse=True)
    assert any(re.search(expected, m) for m in found), "\n".join(found)
    assert all("Fix: " in m for m in found)


def readme_cluster_commands() -> list[str]:
    """Every `hala-exp ...` command of README.md that runs on a Slurm cluster (in code blocks or
    inline), its continuation lines joined and comments dropped."""
    text = ROOT.joinpath("README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.split(" #")[0].strip() for line in text.splitlines()]
    inline = re.findall(r"`(hala-exp [^`]+)`", text)
    commands = [c for c in [*lines, *inline] if c.startswith("hala-exp ")]
    return sorted({c for c in commands if re.search(r"cluster=(h100|local_slurm)|hydra/launcher=slurm", c)})


def one_point(command: str) -> list[str]:
    """The overrides of `command`'s first sweep point (a plan of one point checks its jobs)."""
    args = [a for a in shlex.split(command)[1:] if a != "-m"]
    return [a.split(",")[0] if "=" in a and not re.search(r"[\[{]", a) else a for a in args]


def test_the_readme_has_cluster_commands():
    assert len(readme_cluster_commands()) >= 8


@pytest.mark.parametrize("command", readme_cluster_commands())
def test_the_readmes_cluster_commands_plan_as_written(command):
    cfg, plans, found, limits, whole = planned(one_point(command))
    assert not found, "\n".join(found)
    assert_rules(cfg, plans, limits, whole)


def test_plan_true_prints_the_cluster_plan_and_refuses_with_exit_2(tmp_path):
    """The command line itself, with no sinfo on its PATH."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent),
           "HALA_PY_CORE": sys.executable, "HALA_PY_VLLM": sys.executable}
    base = [sys.executable, "-m", "hala_exp", "plan=true", "experiment=hala_9b", "cluster=h100",
            f"store={tmp_path / 's'}", f"hydra.run.dir={tmp_path / 'run'}"]
    ok = subprocess.run([*base, *ON_GPUS], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "Cluster plan: cluster=h100, one job per step; partition gpu (4 node(s) of 112 CPUs" in ok.stdout
    assert re.search(r"^evaluate\.teacher\s+1x8 GPU.*vllm tp=8", ok.stdout, re.M), ok.stdout
    refused = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2
    assert "cannot run on this cluster" in refused.stderr and "engine.backend = transformers" in refused.stderr


def test_a_submitit_sweep_that_cannot_work_is_refused_before_any_job_is_queued(tmp_path):
    """Hydra's submitit launcher submits a sweep's jobs before the app sees a point: the sweep's shared
    config is checked first (hydra.callbacks.before_launch), so nothing reaches sbatch."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": str(Path(sys.executable).parent),
           "HALA_PY_CORE": sys.executable, "HALA_PY_VLLM": sys.executable}
    sweep = tmp_path / "sweep"
    base = [sys.executable, "-m", "hala_exp", "-m", "experiment=hala_1.2b", "hydra/launcher=slurm_h100",
            "merge.t=0.3,0.5", f"store={tmp_path / 's'}", f"hydra.sweep.dir={sweep}"]
    refused = subprocess.run([*base, "cluster=h100"], capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert "cannot run on this cluster" in refused.stderr and "engine.backend = transformers" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (sweep / ".submitit").exists()  # no job was submitted
    bad = subprocess.run([*base, *ON_GPUS, "cluster=h100", "model.global_batch=7"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "hala-exp: config error: model.global_batch = 7" in bad.stderr, bad.stderr[-2000:]
