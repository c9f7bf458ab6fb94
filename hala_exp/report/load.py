"""What a run directory says about its steps, read from its files only (no Slurm, no W&B API).

The step graph comes from the run's compiled Plan (`plan.json`); where each step stands from
`steps.json` (local runs), else `jobs.json` (Slurm runs), else results.json. A run written before
plans were has its graph from those files too, with each record's input keys matched to the other
steps' keys when only results.json is there. Every
step gets its completion record (`<store dir>/record.json`) when there is one, and its W&B run:
the id recorded in results.json / tracking.json, and the offline run's folder when it is found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from hala_exp.console.headline import headline
from hala_exp.launch import JOBS_FILE
from hala_exp.pipeline.steps_file import STEPS_FILE
from hala_exp.pipeline.store import RECORD
from hala_exp.plan.compiled import load_plan
from hala_exp.report.graph import depths
from hala_exp.tracking.context import flatten


@dataclass
class StepView:
    name: str
    stage: str
    key: str
    needs: list[str]
    status: str  # ran | reused | failed | not run | pending | running | interrupted | queued
    seconds: float | None = None
    dir: Path | None = None  # its output in the store
    log: Path | None = None
    error: str = ""
    headline: str = ""
    record: dict[str, Any] | None = None
    wandb: dict[str, Any] | None = None  # {"run_id", "mode", "project", "entity", "path"?, "url"?}


@dataclass
class RunView:
    dir: Path
    name: str
    steps: list[StepView]
    metrics: dict[str, float]
    run: dict[str, Any] = field(default_factory=dict)  # run.json
    config: dict[str, Any] = field(default_factory=dict)  # config.yaml, flattened
    config_text: str = ""

    @property
    def failed(self) -> list[StepView]:
        return [s for s in self.steps if s.status == "failed"]

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.steps)


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _record(out: Path) -> dict[str, Any] | None:
    """A step's completion record; None when absent or not readable (a broken entry, which the next
    run sets aside and `hala-exp-verify` describes)."""
    try:
        record = _json(out / RECORD)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_run_dir(path: Path) -> bool:
    return any((path / f).is_file() for f in ("results.json", STEPS_FILE, JOBS_FILE))


def _rows(run_dir: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """[{name, stage, key, needs, status, ...}] in graph order: the graph from the run's Plan
    (plan.json), where each step stands from the richest file there is."""
    plan = load_plan(run_dir)
    rows = _status_rows(run_dir, results)
    if plan is None:
        return rows
    by_name = {r["name"]: r for r in rows}
    return [{**by_name.get(s.name, {"status": "not run"}), "name": s.name, "stage": s.stage, "key": s.key,
             "needs": s.needs} for s in plan.steps]


def _status_rows(run_dir: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    steps = _json(run_dir / STEPS_FILE)
    if steps:
        return steps["steps"]
    jobs = _json(run_dir / JOBS_FILE)
    if jobs:
        done = results.get("stages", {})
        return [{"name": n, "stage": e.get("stage", ""), "key": e["key"], "needs": e.get("depends_on", []),
                 "dir": e.get("dir"), "status": done[n]["status"] if n in done else e.get("state", "queued"),
                 "log": e.get("stderr")} for n, e in jobs["steps"].items()]
    stages = results.get("stages", {})
    by_key = {s["key"]: n for n, s in stages.items()}
    rows = []
    for n, s in stages.items():
        record = _record(Path(s["dir"])) or {}
        needs = sorted({by_key[i["key"]] for i in record.get("inputs", {}).values()
                        if isinstance(i, dict) and i.get("key") in by_key})
        rows.append({"name": n, "stage": record.get("stage", ""), "key": s["key"], "needs": needs, **s})
    depth = depths([SimpleNamespace(**r) for r in rows])  # results.json sorts its steps by name
    return sorted(rows, key=lambda r: depth[r["name"]])


def _offline_run(dirs: list[Path], run_id: str) -> Path | None:
    for d in dirs:
        hits = sorted((d / "wandb").glob(f"offline-run-*-{run_id}")) if (d / "wandb").is_dir() else []
        if hits:
            return hits[-1]
    return None


def _wandb(info: dict[str, Any] | None, run_id: str | None, wandb_dirs: list[Path]) -> dict[str, Any] | None:
    """The step's W&B run: id, where its offline files are, or its URL when it was logged online."""
    if not info and not run_id:
        return None
    info = {**(info or {}), "run_id": run_id or (info or {}).get("run_id")}
    if info.get("mode") == "online" and info.get("entity") and info.get("project"):
        info["url"] = f"https://wandb.ai/{info['entity']}/{info['project']}/runs/{info['run_id']}"
    dirs = [Path(info["dir"])] if info.get("dir") else []
    found = _offline_run(dirs + wandb_dirs, info["run_id"])
    if found:
        info["path"] = found
    return info


def _out_dir(recorded: str | None, store: Path | None, name: str, key: str) -> Path | None:
    """The step's output folder in the store, when it exists (a failed or unrun step has none)."""
    out = Path(recorded) if recorded else (store / name / key if store else None)
    return out if out is not None and out.is_dir() else None


def _log(run_dir: Path, log: str | None) -> Path | None:
    path = (run_dir / log if not Path(log).is_absolute() else Path(log)) if log else None
    return path if path is not None and path.is_file() else None


def load_run(run_dir: Path) -> RunView:
    run_dir = run_dir.resolve()
    results = _json(run_dir / "results.json") or {"stages": {}, "metrics": {}}
    run = _json(run_dir / "run.json") or {}
    cfg_file = run_dir / "config.yaml"
    config_text = cfg_file.read_text(encoding="utf-8") if cfg_file.is_file() else ""
    config = flatten(yaml.safe_load(config_text) or {}) if config_text else {}
    store = Path(run["store"]) if run.get("store") else None
    # where offline W&B runs may be: logger.dir, else the default `outputs/` beside `outputs/runs/<run>`
    wandb_dirs = [Path(p) for p in (config.get("logger.dir"),) if p] + [run_dir.parent.parent]
    steps = []
    for row in _rows(run_dir, results):
        entry = results.get("stages", {}).get(row["name"], {})
        out = _out_dir(entry.get("dir") or row.get("dir"), store, row["name"], row["key"])
        record = _record(out) if out else None
        metrics = (record or {}).get("metrics", {})
        stage = row.get("stage") or (record or {}).get("stage", "")
        steps.append(StepView(
            name=row["name"], stage=stage, key=row["key"], needs=list(row.get("needs", [])),
            status=row.get("status", "unknown"), seconds=entry.get("seconds", row.get("seconds")), dir=out,
            log=_log(run_dir, row.get("log")), error=row.get("error") or "",
            headline=row.get("headline") or headline(stage, metrics), record=record,
            wandb=_wandb((record or {}).get("tracking"), entry.get("wandb_run_id"), wandb_dirs)))
    return RunView(run_dir, run.get("name") or run_dir.name, steps, results.get("metrics", {}), run, config,
                   config_text)


def sweep_points(sweep_dir: Path) -> list[Path]:
    """The numbered run directories of a Hydra multirun (those with any run record), in job order."""
    subs = [d for d in sweep_dir.iterdir() if d.is_dir() and is_run_dir(d)]
    return sorted(subs, key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))
