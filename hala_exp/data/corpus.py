"""The corpus mix from the config: every `data.corpus` source through its adapter into `build_mix`.

The corpus is English (it is what gets translated), so `mix.arabic_ratio` does not apply here: the
SFT stage applies it to the translated rows.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from hala_exp.data.adapters import Counts, iter_chat
from hala_exp.data.mix import MixSource, build_mix, weighted_caps, write_counts
from hala_exp.data.snapshot import iter_snapshot, snapshot_counts


def source_caps(corpus: DictConfig, mix: DictConfig) -> dict[str, int | None]:
    """Rows each source may give the mix: weights share `mix.total_rows`; no weight means no cap."""
    weights = {k: float(s.weight) for k, s in corpus.items() if s.weight is not None}
    caps: dict[str, int | None] = {k: None for k in corpus}
    if weights:
        caps.update(weighted_caps(weights, mix.total_rows))
    return caps


def build_corpus_mix(corpus: DictConfig, mix: DictConfig, seed: int, out_dir: Path,
                     snapshots: dict[str, str] | None = None) -> dict[str, float]:
    """Write `out_dir/mix.parquet` and `out_dir/counts.json`; return the counts as flat metrics.

    `snapshots` (source name -> rows.parquet) gives each source's checked rows; without it the
    sources are read through their adapters here.
    """
    caps = source_caps(corpus, mix)
    if snapshots is not None:
        adapter_counts = {name: snapshot_counts(snapshots[name]) for name in corpus}
        rows = {name: iter_snapshot(snapshots[name]) for name in corpus}
    else:
        adapter_counts = {name: Counts() for name in corpus}
        rows = {name: iter_chat(src, name, adapter_counts[name]) for name, src in corpus.items()}
    sources = [MixSource(name, rows[name], caps[name]) for name in corpus]
    expected = sum(min(src.rows, caps[n]) if caps[n] is not None else src.rows for n, src in corpus.items())
    counts = build_mix(sources, out_dir / "mix.parquet", seed=seed, dedup=mix.dedup,
                       shuffle=mix.shuffle, bucket_rows=mix.bucket_rows,
                       expected_rows=expected)
    metrics: dict[str, float] = {"mix.rows": float(counts.total)}
    for name, c in adapter_counts.items():
        metrics.update(c.as_metrics(f"source.{name}"))
        for k, v in counts.sources.get(name, {}).items():
            if k not in ("in", "kept"):
                metrics[f"mix.{name}.{k}"] = float(v)
    write_counts(out_dir / "counts.json", counts,
                 settings={"seed": seed, "dedup": mix.dedup, "caps": caps},
                 adapters={n: {"read": c.read, "kept": c.kept, "dropped": dict(c.dropped)}
                           for n, c in adapter_counts.items()})
    return metrics
