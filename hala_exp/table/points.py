"""Sweep points from local run records (results.json, .hydra/overrides.yaml, config.yaml) or W&B.

A point is one run of the pipeline: its swept values, its flat metrics (`<step>.<metric>`), the W&B
run id of each step that produced them, its resolved config (flattened) and where it came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hala_exp.tracking.context import PLACEMENT_KEYS, flatten
from hala_exp.tracking.step_run import TRACKING_FILE


@dataclass
class Point:
    source: str  # run directory, or "wandb:<entity>/<project>/<group>"
    overrides: dict[str, Any]
    metrics: dict[str, float]
    config: dict[str, Any]
    run_ids: dict[str, str] = field(default_factory=dict)  # step name -> W&B run id
    group: str | None = None  # the W&B group its steps were logged in


def _value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _overrides(run_dir: Path) -> dict[str, Any]:
    f = run_dir / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(f.read_text(encoding="utf-8")) if f.is_file() else []
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        key = key.lstrip("+~")
        if not key.startswith(PLACEMENT_KEYS):
            out[key] = _value(value)
    return out


def _run_ids(results: dict[str, Any]) -> dict[str, str]:
    return {step: stage["wandb_run_id"] for step, stage in results["stages"].items() if stage.get("wandb_run_id")}


def _group(results: dict[str, Any]) -> str | None:
    """The W&B group as the step runs recorded it (tracking.json in a tracked stage's directory)."""
    for stage in results["stages"].values():
        f = Path(stage["dir"]) / TRACKING_FILE
        if stage.get("wandb_run_id") and f.is_file():
            return json.loads(f.read_text(encoding="utf-8"))["group"]
    return None


def load_run(run_dir: Path) -> Point:
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    cfg_file = run_dir / "config.yaml"
    config = flatten(yaml.safe_load(cfg_file.read_text(encoding="utf-8"))) if cfg_file.is_file() else {}
    return Point(str(run_dir), _overrides(run_dir), results["metrics"], config, _run_ids(results), _group(results))


def run_dirs(paths: list[Path]) -> list[Path]:
    """Each path is a run directory (has results.json) or a sweep directory of numbered runs."""
    out = []
    for p in paths:
        if (p / "results.json").is_file():
            out.append(p)
            continue
        subs = sorted((d for d in p.iterdir() if d.is_dir() and (d / "results.json").is_file()),
                      key=lambda d: (not d.name.isdigit(), int(d.name) if d.name.isdigit() else 0, d.name))
        if not subs:
            raise SystemExit(f"hala-exp-table: {p} holds no results.json (neither a run nor a sweep "
                             "directory). Fix: pass outputs/multirun/<sweep> or outputs/runs/<run>")
        out.extend(subs)
    return out


def load_points(paths: list[Path]) -> list[Point]:
    return [load_run(d) for d in run_dirs(paths)]


def wandb_points(path: str, group: str, api: Any = None) -> list[Point]:
    """Points of one W&B group (`path` = "entity/project"), from the runs' flattened config and summary.

    A step that ran once in the group (an upstream shared by every point) is given to every point;
    a step that ran per point belongs to the point whose swept config it carries.
    """
    if api is None:
        import wandb

        api = wandb.Api()
    runs = [r for r in api.runs(path, filters={"group": group}) if r.config.get("step.name")]
    per_step: dict[str, list[Any]] = {}
    for r in runs:
        per_step.setdefault(r.config["step.name"], []).append(r)
    configs = [{k: v for k, v in r.config.items() if not k.startswith("step.")} for r in runs]
    varying = sorted({k for c in configs for k in c if len({repr(o.get(k)) for o in configs}) > 1})
    points: dict[tuple, Point] = {}
    for r, cfg in zip(runs, configs):
        if len(per_step[r.config["step.name"]]) > 1 or not varying:
            ident = tuple(repr(cfg.get(k)) for k in varying)
            points.setdefault(ident, Point(f"wandb:{path}/{group}", {k: cfg.get(k) for k in varying}, {}, cfg,
                                           group=group))
    for step, step_runs in per_step.items():
        for r in step_runs:
            cfg = {k: v for k, v in r.config.items() if not k.startswith("step.")}
            ident = tuple(repr(cfg.get(k)) for k in varying)
            targets = list(points.values()) if len(step_runs) == 1 else [p for i, p in points.items() if i == ident]
            for p in targets:
                p.run_ids[step] = r.id
                p.metrics.update({f"{step}.{k}": float(v) for k, v in r.summary.items()
                                  if not k.startswith(("_", "timing/", "throughput/"))
                                  and isinstance(v, (int, float))})
    return list(points.values())
