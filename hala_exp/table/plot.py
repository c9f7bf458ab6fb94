"""Score against the swept value (t, the mix, the size) as a PNG, with the paper's averages as lines."""

from __future__ import annotations

from pathlib import Path

from hala_exp.table.build import Table, axis_value
from hala_exp.table.points import Point


def plot(t: Table, out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = t.axes[0] if len(t.axes) == 1 else " / ".join(t.axes)
    xs = [r["values"][t.axes[0]] if len(t.axes) == 1 else " / ".join(axis_value(r["values"][a]) for a in t.axes)
          for r in t.rows]
    numeric = all(isinstance(x, (int, float)) for x in xs)
    xs = xs if numeric else [str(x) for x in xs]
    groups = [("benchmarks (%)", [c for c in t.columns if c.kind in ("task", "average")]),
              ("translation", [c for c in t.columns if c.kind == "translation"]),
              ("other metrics", [c for c in t.columns if c.kind == "metric"])]
    groups = [(name, cols) for name, cols in groups if cols]
    if len(groups) > 1:  # a panel where nothing moved (a shared upstream) says nothing
        groups = [g for g in groups if any(t.varies(c) for c in g[1])] or groups[:1]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.6), squeeze=False)
    for ax, (name, cols) in zip(axes[0], groups):
        for c in cols:
            ys = [r["cells"][c.name] for r in t.rows]
            style = {"linewidth": 2.4, "color": "black"} if c.kind == "average" else {"linewidth": 1.2}
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=c.name, **style)
        for ref in t.references:
            for c in cols:
                if c.ref_key and c.ref_key in ref:
                    ax.axhline(ref[c.ref_key], linestyle="--", linewidth=0.8, color="gray")
                    ax.annotate(ref["label"], (0, ref[c.ref_key]), xycoords=("axes fraction", "data"),
                                fontsize=7, color="gray", va="bottom")
        _finish_axes(ax, axis, name)
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def _finish_axes(ax, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _save(fig, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def curve_points(metrics: dict[str, float], name: str) -> list[tuple[int, float]]:
    """(step, value) of the metrics `<name>_step<N>` a stage logged along training, by step."""
    prefix = name + "_step"
    return sorted((int(k.removeprefix(prefix)), v) for k, v in metrics.items()
                  if k.startswith(prefix) and k.removeprefix(prefix).isdigit())


def plot_curve(points: list[Point], name: str, out: Path, title: str) -> Path:
    """One line per sweep point of metric `name` against the training step (e.g. cpt.heldout.arabic.loss)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = {k for p in points for k in p.overrides}
    swept = sorted(k for k in keys if len({repr(p.overrides.get(k)) for p in points}) > 1) or sorted(keys)
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    drawn = 0
    for p in points:
        curve = curve_points(p.metrics, name)
        if curve:
            label = ", ".join(f"{k}={axis_value(p.overrides.get(k))}" for k in swept) or p.source
            ax.plot([s for s, _ in curve], [v for _, v in curve], marker="o", label=label)
            drawn += 1
    if not drawn:
        plt.close(fig)
        raise ValueError(f"no run reports {name}_step<N> metrics to draw a curve of")
    _finish_axes(ax, "training step", name)
    ax.set_title(title, fontsize=8)
    return _save(fig, out)
