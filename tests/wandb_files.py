"""Offline W&B runs read back from their files by wandb itself (`wandb leet inspect`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WANDB = [sys.executable, "-m", "wandb"]


def offline_runs(wandb_dir: Path) -> list[Path]:
    return sorted((wandb_dir / "wandb").glob("offline-run-*"))


def read_run(run_dir: Path) -> dict:
    """Summary, config and metadata of an offline run, read from its .wandb file."""
    out = subprocess.run([*WANDB, "leet", "inspect", "--summary", "--json", str(run_dir)],
                         capture_output=True, text=True, check=True).stdout
    summary = json.loads(out)
    records = subprocess.run([*WANDB, "leet", "inspect", "--json", str(run_dir)], capture_output=True,
                             text=True, check=True).stdout
    run = next(json.loads(r)["run"] for r in records.splitlines() if '"type":"run"' in r)
    return {**summary, "group": run.get("run_group"), "job_type": run.get("job_type")}
