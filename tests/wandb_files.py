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


def records(run_dir: Path) -> list[dict]:
    """Every record of an offline run's .wandb file, in order."""
    out = subprocess.run([*WANDB, "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def history(run_dir: Path) -> list[dict]:
    """The run's history rows in order, each with its W&B step as `_step`."""
    return [{**r["history"]["item"], "_step": int(r["history"]["step"].get("num", 0))}
            for r in records(run_dir) if r["type"] == "history"]


def config(run_dir: Path) -> dict:
    """The run's config: what `wandb.init` set plus every later update."""
    out: dict = {}
    for r in records(run_dir):
        if r["type"] == "run":
            out.update(r["run"]["config"]["update"])
        elif r["type"] == "config":
            out.update(r["config"].get("update", {}))
    return out


def table(run_dir: Path, name: str) -> dict:
    """A logged `wandb.Table` ({"columns": [...], "data": [[...], ...]}), read from the run's files."""
    entry = read_run(run_dir)["summary"][name]
    return json.loads((run_dir / "files" / entry["path"]).read_text(encoding="utf-8"))
