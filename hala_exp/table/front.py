"""A search's trials in the ablation table: which trials are on the Pareto front of its objectives,
whether a point of another sweep (a grid) beats a front trial on every objective, and the front plot
(first objective against the second, the front highlighted, the other points beside it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hala_exp.search.front import dominates, on_front
from hala_exp.search.objectives import Objective
from hala_exp.table.points import Point

SUMMARY = "search.json"  # written by hala_exp.search.sweeper


@dataclass
class Search:
    objectives: list[Objective]
    trial_dirs: set[str]  # resolved run directories of the completed trials
    dir: Path  # the search's sweep directory: a run in it that is no completed trial was stopped


def find_search(paths: list[Path]) -> Search | None:
    """The search whose sweep directory is among `paths` (its search.json), else None."""
    for p in paths:
        f = p / SUMMARY
        if f.is_file():
            s = json.loads(f.read_text(encoding="utf-8"))
            return Search([Objective(o["metric"], o["direction"] == "minimize") for o in s["objectives"]],
                          {str(Path(t["run_dir"]).resolve()) for t in s["trials"]
                           if t["state"] == "COMPLETE" and t.get("run_dir")}, p.resolve())
    return None


def _values(p: Point, search: Search) -> tuple[float, ...] | None:
    vs = [p.metrics.get(o.metric) for o in search.objectives]
    return None if any(v is None for v in vs) else tuple(float(v) for v in vs)


def marks(points: list[Point], search: Search) -> tuple[dict[str, str], list[str]]:
    """(row source -> `front` / `trial` / `stopped` / `grid`, lines saying what the front is and what
    beats it). A run in the search's directory that is no completed trial (killed, then retried) is
    `stopped` and counts for nothing."""
    minimize = [o.minimize for o in search.objectives]
    trials = [p for p in points if str(Path(p.source).resolve()) in search.trial_dirs and _values(p, search)]
    stopped = [p for p in points if p not in trials and Path(p.source).resolve().parent == search.dir]
    others = [p for p in points if p not in trials and p not in stopped and _values(p, search)]
    flags = on_front([_values(p, search) for p in trials], minimize)
    out = {p.source: "front" if f else "trial" for p, f in zip(trials, flags)}
    out.update({p.source: "stopped" for p in stopped})
    out.update({p.source: "grid" for p in others})
    front = [p for p, f in zip(trials, flags) if f]
    names = ", ".join(o.spec() for o in search.objectives)
    lines = [f"Pareto front ({names}): {len(front)} of {len(trials)} trials."]
    if others:
        beaten = {p.source: [o.source for o in others if dominates(_values(o, search), _values(p, search), minimize)]
                  for p in front}
        free = [s for s, by in beaten.items() if not by]
        lines.append(f"Front trials that none of the {len(others)} other points beats on every objective: "
                     f"{len(free)} of {len(front)}{': ' + ', '.join(free) if free else ''}.")
        lines += [f"{s} is beaten on every objective by {', '.join(by)}." for s, by in beaten.items() if by]
    return out, lines


def plot_front(points: list[Point], search: Search, label: dict[str, str], out: Path, title: str) -> Path:
    """First objective against the second: trials as dots, the front as a line, other points as squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hala_exp.table.plot import _save

    o1, o2 = search.objectives[0], search.objectives[1 if len(search.objectives) > 1 else 0]
    kinds = {k: [(p.metrics[o1.metric], p.metrics[o2.metric]) for p in points
                 if label.get(p.source) == k and _values(p, search)] for k in ("trial", "front", "grid")}
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    if kinds["trial"]:
        ax.scatter(*zip(*kinds["trial"]), color="0.6", s=24, label="search trial", zorder=2)
    if kinds["front"]:
        ax.plot(*zip(*sorted(kinds["front"])), color="tab:red", marker="o", linewidth=1.6, label="Pareto front",
                zorder=3)
    if kinds["grid"]:
        ax.scatter(*zip(*kinds["grid"]), color="tab:blue", marker="s", s=30, label="other points (grid)", zorder=4)
        grid = [p for p in points if label.get(p.source) == "grid"]
        swept = [k for k in sorted({k for p in grid for k in p.overrides})
                 if len({repr(p.overrides.get(k)) for p in grid}) > 1]
        for p in grid:
            ax.annotate(", ".join(f"{k.split('.')[-1]}={p.overrides.get(k)}" for k in swept),
                        (p.metrics[o1.metric], p.metrics[o2.metric]), fontsize=7, color="tab:blue",
                        xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel(o1.metric + (" (lower is better)" if o1.minimize else ""))
    ax.set_ylabel(o2.metric + (" (lower is better)" if o2.minimize else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=8)
    return _save(fig, out)
