"""The paper's reference rows for an ablation table, chosen by matching the runs' resolved config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PAPER = Path(__file__).with_name("paper.yaml")


def reference_rows(configs: list[dict[str, Any]], translation_system: str | None,
                   source: Path = PAPER) -> list[dict[str, Any]]:
    """Rows of `source` whose `match` equals at least one run's flattened config.

    Translation rows also need the table's translation system to be the one the paper measured.
    Returns [{"label": ..., "average": ..., "bleu": ...}] with only the metrics the paper gives.
    """
    rows = yaml.safe_load(source.read_text(encoding="utf-8"))["rows"]
    out = []
    for row in rows:
        if "translation_system" in row and row["translation_system"] != translation_system:
            continue
        if any(all(cfg.get(k) == v for k, v in row["match"].items()) for cfg in configs):
            out.append({k: v for k, v in row.items() if k not in ("match", "translation_system")})
    return out
