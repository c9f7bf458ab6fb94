"""A run's held-out losses as one bar chart (systems x languages), written beside results.json."""

from __future__ import annotations

from pathlib import Path


def plot_heldout(rows: dict[str, dict[str, float]], out: Path, metric: str = "bpc") -> Path | None:
    """Bars of `<lang>.<metric>` per system (bits per character: comparable across tokenizers)."""
    langs = sorted({k.split(".")[0] for r in rows.values() for k in r if k.endswith("." + metric)})
    if not langs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(rows)
    width = 0.8 / len(langs)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(systems) + 1.5), 3.4))
    for i, lang in enumerate(langs):
        values = [rows[s].get(f"{lang}.{metric}", float("nan")) for s in systems]
        bars = ax.bar([x + i * width for x in range(len(systems))], values, width, label=lang)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks([x + width * (len(langs) - 1) / 2 for x in range(len(systems))], systems, fontsize=8)
    ax.set_ylabel(f"held-out {metric} (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
