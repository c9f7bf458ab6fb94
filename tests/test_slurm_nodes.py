"""Multi-node training jobs run by Slurm: one launcher per node, world size from the job.

This cluster has a single node, so each job asks for two tasks on it, each standing in for a node
(`hala_exp.launch.nodes` tells them apart by SLURM_PROCID when they share a node; across nodes by
SLURM_NODEID). A per-stage job (StepJob): task 0 runs the SFT step and announces its launcher, task 1
joins with machine rank 1. A job of Hydra's submitit launcher: the same, inside a whole pipeline.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_distributed_training import KEY, RECORDER, ROOT, _spec

from hala_exp.launch.job import StepJob
from hala_exp.training.launch import accelerate_command

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def test_two_node_plan_starts_one_launcher_per_node(tiny_lfm2, tmp_path, monkeypatch):
    import submitit

    spec, store = _spec(tmp_path, tiny_lfm2)
    record = tmp_path / "record"
    record.mkdir()
    for k, v in {"PYTHONPATH": os.pathsep.join([str(RECORDER), str(ROOT)]), "HALA_RECORD_DIR": str(record),
                 "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(k, v)  # sbatch passes the submitting environment to the job
    launch = accelerate_command(sys.executable, "ddp", 1, nodes=2, port=_free_port(), mixed_precision="no")
    executor = submitit.SlurmExecutor(folder=tmp_path / "jobs", max_num_timeout=0)
    executor.update_parameters(partition="debug", nodes=1, ntasks_per_node=2, cpus_per_task=1, mem="8GB",
                               time=30, srun_args=["--kill-on-bad-exit=1"])
    job = executor.submit(StepJob(spec, 0, None, launch, str(tmp_path / "steps")))
    results = job.results()  # one per task
    assert results[0]["ran"] is True and results[1] == {"ran": False, "node": 1, "launched": 1}

    ranks = [json.loads((record / f"launcher-rank{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert [r["group_rank"] for r in ranks] == [0, 1]  # rank 0 on machine 0, the task that commits
    assert ranks[0]["launcher_pid"] != ranks[1]["launcher_pid"]  # one launcher each, no more
    notes = list((tmp_path / "steps" / ".launchers").glob(f"{job.job_id}-0/*.json"))
    assert len(notes) == 1  # node 0 announced one launch

    saved = load_file(str(store.path("sft", KEY) / "model" / "model.safetensors"))
    final = torch.load(record / "final-rank0.pt")
    for name, tensor in saved.items():
        torch.testing.assert_close(tensor, final[name], rtol=0, atol=0, msg=name)
    assert store.record("sft", KEY)["metrics"]["steps"] > 0
    assert Path(job.paths.stdout).exists()


def test_hydra_submitit_job_on_two_nodes_joins_training_from_node_1(tmp_path):
    """A whole pipeline as one job of Hydra's submitit launcher, `runtime.nodes=2`: task 0 runs the
    pipeline up to the translator's training, task 1 only joins that training with its own launcher."""
    import subprocess

    record = tmp_path / "record"
    record.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(RECORDER), str(ROOT)]), "HALA_RECORD_DIR": str(record),
           "OMP_NUM_THREADS": "1"}
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "hala_exp.cli", "-m", "hydra/launcher=slurm_h100", "cluster=local_slurm",
               f"store={tmp_path / 'store'}", f"hydra.sweep.dir={sweep}", f"logger.dir={tmp_path / 'wb'}",
               "targets=[train_translator]", "runtime.gpus_per_node=1", "runtime.nodes=2",
               f"runtime.main_process_port={_free_port()}",
               # one node here: two tasks on it stand in for the two nodes; no GPUs on this cluster
               "hydra.launcher.nodes=1", "hydra.launcher.tasks_per_node=2", "hydra.launcher.gpus_per_node=0",
               "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=12", "hydra.launcher.timeout_min=30"]
    # the translator's 16 sequences a step cannot split over 2 processes of 16: refused before a job is queued
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
    assert refused.returncode == 2 and "translator.global_batch = 16" in refused.stderr, refused.stderr[-3000:]
    assert not (sweep / ".submitit").exists()
    proc = subprocess.run([*command, "translator.micro_batch=8"],
                          env=env, capture_output=True, text=True, timeout=1500, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((sweep / "0" / "results.json").read_text())
    assert results["stages"]["train_translator"]["status"] == "ran"
    logs = {p.name: p.read_text() for p in (sweep / ".submitit").glob("*/*_log.out")}
    follower = next(text for name, text in logs.items() if name.endswith("_1_log.out"))
    assert "node 1 of 2: 1 training launches joined" in follower
    ranks = [json.loads((record / f"launcher-rank{r}.json").read_text()) for r in range(2)]
    assert {r["world_size"] for r in ranks} == {2} and [r["group_rank"] for r in ranks] == [0, 1]
    assert ranks[0]["launcher_pid"] != ranks[1]["launcher_pid"]
    assert len(list((sweep / "0" / "steps" / ".launchers").glob("*/*.json"))) == 1
