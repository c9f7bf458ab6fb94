"""lighteval's tasks in groups, each committed on its own: one suite spread over many jobs, resumable.

A suite of 117 subsets is one long job per model; a kill loses all of it. Here the expanded task
list (one entry per subset, in the suite's order) is a sharded pass (`hala_exp.shards`): shard i
evaluates tasks [i*n, (i+1)*n) in a lighteval run of its own, with its details and results files
under `<shards>/group-<i>/`, and its rows are those tasks' raw scores. The step's workers
(`resources.stages.evaluate_lighteval.workers`) take disjoint groups, as generation steps do.

The gather flattens every group's scores as one run's: the subset scores as lighteval gave them,
and each task's mean over its subsets recomputed over all of them (lighteval's own `_average` in a
group covers only the subsets of that group, so it is dropped). Each group's details and results
files are copied into the step's output beside each other.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hala_exp.evaluation.lighteval_run import evaluate, flatten_results, prepare, write_metrics
from hala_exp.evaluation.suites import split_spec
from hala_exp.shards import current_role, run_sharded


def group_size(tasks: int, tasks_per_shard: int | None, workers: int) -> int:
    """Tasks per group: `tasks_per_shard`, or else the tasks split evenly over the workers."""
    if tasks_per_shard is not None:
        if tasks_per_shard < 1:
            raise ValueError(f"eval.lighteval.tasks_per_shard = {tasks_per_shard}: must be at least 1")
        return tasks_per_shard
    return max(1, -(-tasks // max(1, workers)))


def own_scores(results: dict[str, dict[str, float]], spec: str) -> dict[str, float]:
    """The scores lighteval gave task `spec` ("task:subset|k"), named as in its results."""
    for key in (spec, spec.replace("|", ":")):
        if key in results:
            return dict(results[key])
    raise RuntimeError(f"lighteval returned no scores for {spec!r}; it returned {sorted(results)[:8]}")


def _copy_files(groups: list[Path], out_dir: Path) -> None:
    """Every group's `details/<run>/` and `results/*.json` into the output, one name each."""
    for group in groups:
        for kind in ("details", "results"):
            src = group / kind
            if not src.is_dir():
                continue
            (out_dir / kind).mkdir(parents=True, exist_ok=True)
            for entry in sorted(src.iterdir()):
                dest = out_dir / kind / entry.name
                if dest.exists():  # two groups started within the same timestamp
                    dest = dest.with_name(f"{entry.stem}-{group.name}{entry.suffix}")
                if entry.is_dir():
                    shutil.copytree(entry, dest)
                else:
                    shutil.copy2(entry, dest)


def run_grouped(model_dir: str, tasks: list[str], out_dir: Path, shards_dir: Path,
                tasks_per_shard: int | None = None, custom: list[tuple[str, str | None]] | None = None,
                max_samples: int | None = None, batch_size: int = 8, device: str = "cpu",
                exclude: list[str] | None = None, data_dirs: dict[str, str] | None = None,
                dtype: str = "auto") -> dict[str, float]:
    """`lighteval_run.score_tasks`'s scores, computed group by group into `shards_dir` (see module)."""
    out_dir, shards_dir = Path(out_dir), Path(shards_dir)
    expanded, module = prepare(tasks, custom, exclude, data_dirs)
    specs = [f"{n}|{k}" for n, k in expanded]
    size = group_size(len(specs), tasks_per_shard, current_role().workers)

    def one_group(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
        group = shards_dir / f"group-{specs.index(rows[0]['id']) // size:05d}"
        shutil.rmtree(group, ignore_errors=True)  # what a killed attempt left of this group
        results = evaluate(model_dir, [split_spec(r["id"]) for r in rows], module, group, max_samples,
                           batch_size, device, dtype)
        return [{"id": r["id"], "scores": own_scores(results, r["id"])} for r in rows], {"tasks": float(len(rows))}

    rows, _, _ = run_sharded([{"id": s} for s in specs], size, shards_dir, one_group, desc="lighteval")
    flat = flatten_results({r["id"]: r["scores"] for r in rows})
    groups = [shards_dir / f"group-{i:05d}" for i in range(-(-len(specs) // size))]
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_files(groups, out_dir)
    write_metrics(out_dir, model_dir, tasks, expanded, data_dirs, flat, groups=len(groups), tasks_per_group=size)
    return flat
