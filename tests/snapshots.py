"""Source snapshots for tests that call a stage directly, as its `source.*` step would give them."""

from __future__ import annotations

from pathlib import Path


def snapshot_of(src, kind: str, name: str, out: Path) -> str:
    """A source's snapshot written as its `source.*` step writes it; the path stages get as input."""
    from hala_exp.data.snapshot import ROWS, write_snapshot

    out.mkdir(parents=True, exist_ok=True)
    write_snapshot(kind, src, name, f"test.{name}", out)
    return str(out / ROWS)
