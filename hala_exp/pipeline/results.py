"""A run's `results.json`: one entry per step and its metrics, the same for a local and a Slurm run."""

from __future__ import annotations

import math
from typing import Any

from hala_exp.pipeline.store import Store


def add_result(results: dict[str, Any], name: str, key: str, store: Store, record: dict[str, Any],
               ran: bool, seconds: float) -> None:
    """One step into a run's results.json (the same for a local and a Slurm run): its stage entry,
    the W&B run that produced its output, and its finite metrics as `<step>.<metric>`."""
    entry = {"status": "ran" if ran else "reused", "key": key, "dir": str(store.path(name, key)),
             "seconds": round(seconds, 3) if ran else 0.0}
    if record.get("tracking"):  # the W&B run that produced this output (maybe in an earlier run)
        entry["wandb_run_id"] = record["tracking"]["run_id"]
    results["stages"][name] = entry
    for k, v in record.get("metrics", {}).items():
        if isinstance(v, (int, float)) and math.isfinite(v):
            results["metrics"][f"{name}.{k}"] = v
