"""One launcher per node: the allocation read from Slurm's environment, and node 0's announcements
followed by real launcher processes on the other nodes (short stand-in launchers, no training)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hala_exp.launch import nodes
from hala_exp.training.launch import SPEC, accelerate_command

NODELIST = "gpu[07-08]"


@pytest.fixture
def scontrol(tmp_path, monkeypatch):
    """A `scontrol show hostnames` that expands NODELIST as Slurm does (no cluster needed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "scontrol"
    tool.write_text(f'#!/bin/sh\n[ "$1 $2 $3" = "show hostnames {NODELIST}" ] && printf "gpu07\\ngpu08\\n"\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")


def _env(node: int, tasks: int = 2, nodes_: int = 2) -> dict[str, str]:
    return {"SLURM_JOB_ID": "41", "SLURM_PROCID": str(node), "SLURM_NODEID": str(node),
            "SLURM_NTASKS": str(tasks), "SLURM_JOB_NUM_NODES": str(nodes_), "SLURM_JOB_NODELIST": NODELIST,
            "SLURM_RESTART_COUNT": "1"}


def test_allocation_from_slurm(scontrol):
    a = nodes.allocation(_env(1))
    assert a == nodes.Allocation(nodes=2, node_rank=1, main_host="gpu07", job_id="41", restart=1)
    assert nodes.allocation({"SLURM_JOB_ID": "41"}) is None  # not in a job step
    assert nodes.allocation(_env(0, tasks=1, nodes_=1)) is None  # one task: nothing to coordinate
    with pytest.raises(nodes.NodeLaunchError, match="one task per node"):
        nodes.allocation(_env(0, tasks=16, nodes_=2))  # 8 launchers per node would start 8x the ranks


def test_launch_for_each_node(scontrol):
    launch = accelerate_command("/env/python", "fsdp", 8, nodes=2, port=29600)
    for rank in (0, 1):
        argv = nodes.for_node(launch, nodes.allocation(_env(rank)))
        assert argv[argv.index("--machine_rank") + 1] == str(rank)
        assert argv[argv.index("--main_process_ip") + 1] == "gpu07"
    with pytest.raises(nodes.NodeLaunchError, match="for 3 machines but the job has 2"):
        nodes.for_node(accelerate_command("/env/python", "fsdp", 8, nodes=3), nodes.allocation(_env(0)))
    with pytest.raises(nodes.NodeLaunchError, match="inside a Slurm job"):
        nodes.plan(launch)  # outside any job
    assert nodes.plan(accelerate_command("/env/python", "ddp", 8)) is None  # one node: no coordination


def _recorder(out: Path) -> list[str]:
    """A stand-in launcher: records its machine rank and spec, like one node's `accelerate launch`."""
    code = ("import sys,json,os; a=sys.argv; open(a[1]+'/'+a[a.index('--machine_rank')+1]+'-'+str(os.getpid()),'w')"
            ".write(json.dumps({'rank': a[a.index('--machine_rank')+1], 'spec': a[-1]}))")
    return [sys.executable, "-c", code, str(out), "--num_machines", "2", "--machine_rank", nodes.MACHINE_RANK,
            "--main_process_ip", nodes.MAIN_HOST, SPEC]


def test_followers_join_each_announced_launch_and_stop_at_end(scontrol, tmp_path):
    out = tmp_path / "ranks"
    out.mkdir()
    leader, follower = nodes.allocation(_env(0)), nodes.allocation(_env(1))
    work = tmp_path / "steps"
    joined: list[int] = []
    t = threading.Thread(target=lambda: joined.append(nodes.follow(follower, work)))
    t.start()
    for name in ("train_translator", "sft"):  # two training steps of one pipeline job, in turn
        spec = str(tmp_path / f"{name}.spec.json")
        cmd = [a.replace(SPEC, spec) for a in nodes.leader_command(_recorder(out), leader, work, name)]
        assert subprocess.run(cmd, check=False).returncode == 0  # node 0: announce, then exec its launcher
    with nodes.leading(work, leader):
        pass
    t.join(timeout=30)
    assert joined == [2]
    seen = sorted((json.loads(p.read_text())["rank"], Path(json.loads(p.read_text())["spec"]).name)
                  for p in out.iterdir())
    assert seen == [("0", "sft.spec.json"), ("0", "train_translator.spec.json"),
                    ("1", "sft.spec.json"), ("1", "train_translator.spec.json")]
    assert len({p.name.split("-")[1] for p in out.iterdir()}) == 4  # each a launcher process of its own


def test_a_failed_follower_launch_raises(scontrol, tmp_path):
    leader, follower = nodes.allocation(_env(0)), nodes.allocation(_env(1))
    nodes.announce(nodes.announcements(tmp_path, leader), "sft", "/x.json",
                   [sys.executable, "-c", "import sys; sys.exit(3)", "--machine_rank", "0"])
    with pytest.raises(nodes.NodeLaunchError, match="exited with status 3"):
        nodes.follow(follower, tmp_path)
