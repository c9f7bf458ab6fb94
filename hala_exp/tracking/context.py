"""The tracking context a step carries in its spec: JSON only, so it works in any process.

It holds the logger settings, the W&B group (the experiment, or the sweep), a readable name for the
point, and the whole resolved config flattened to dotted keys (`merge.t`, `data.name`), which is
what W&B dashboards filter and group by.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hala_exp.tracking.secrets import scrub, scrub_text

# Overrides that say where things go rather than what the experiment is: left out of run names and
# never an axis of an ablation table.
PLACEMENT_KEYS = ("+sweep", "sweep", "+search", "search", "store", "logger.", "hydra.", "plan", "verbose")


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{"merge": {"t": 0.5}} -> {"merge.t": 0.5}; lists stay values."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def _hydra() -> tuple[list[str], str | None]:
    """(this job's overrides, the sweep directory when this is a multirun job)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return [], None
    hc = HydraConfig.get()
    sweep = str(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    return list(hc.overrides.task), sweep


def defining_overrides(overrides: list[str]) -> list[str]:
    """The overrides that say what runs, not where it goes (store, logger, hydra, the sweep or search)."""
    return [o for o in overrides if not o.lstrip("+~").startswith(PLACEMENT_KEYS)]


def run_label(overrides: list[str]) -> str:
    """The overrides that define this point, e.g. "merge.t=0.25"."""
    return " ".join(defining_overrides(overrides))


def point_values(overrides: list[str]) -> dict[str, Any]:
    """The point's own values as W&B config (`point.merge.t: 0.25`, `point.axes: ["merge.t"]`), typed as
    the command line wrote them, so the runs table groups and filters a sweep by exactly its axes."""
    import yaml

    out: dict[str, Any] = {}
    for item in defining_overrides(overrides):
        key, sep, text = item.lstrip("+~").partition("=")
        if not sep:
            continue
        try:
            out[f"point.{key}"] = yaml.safe_load(text)
        except yaml.YAMLError:
            out[f"point.{key}"] = text
    if out:
        out["point.axes"] = [k.removeprefix("point.") for k in out]
    return out


def tracking_context(cfg: DictConfig, overrides: list[str] | None = None,
                     sweep_dir: str | None = None) -> dict[str, Any] | None:
    """None when tracking is off; else what `StepRun` needs, with no secret in it."""
    lg = cfg.logger
    if lg.backend == "none":
        return None
    if overrides is None:
        overrides, sweep_dir = _hydra()
    if lg.group:
        group = lg.group
    elif sweep_dir:
        group = f"{cfg.name}-{Path(sweep_dir).name}"
    else:
        group = cfg.name
    container = OmegaConf.to_container(cfg, resolve=True)
    container.pop("hydra", None)
    wandb_dir = lg.dir or os.environ.get("WANDB_DIR") or "outputs"
    return {"backend": lg.backend, "project": lg.project, "entity": lg.entity, "mode": lg.mode,
            "dir": str(Path(wandb_dir).expanduser().resolve()), "group": scrub_text(group),
            "experiment": cfg.name, "label": scrub_text(run_label(overrides)),
            "upload_artifacts": bool(lg.upload_artifacts),
            "config": scrub({**flatten(container), **point_values(overrides)})}
