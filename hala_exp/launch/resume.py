"""The command that resumes a run: the same `hala-exp` command line, from its run record.

A run directory keeps its overrides (`run.json`, also Hydra's `.hydra/overrides.yaml`) and the
directory it ran from (`.hydra/hydra.yaml`, where a relative `store` is found). Run again, complete
steps are reused and only what is missing is submitted or run.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import yaml


def _overrides(run_dir: Path) -> list[str] | None:
    record = run_dir / "run.json"
    if record.is_file():
        overrides = json.loads(record.read_text(encoding="utf-8")).get("overrides")
        if isinstance(overrides, list):
            return [str(o) for o in overrides]
    hydra = run_dir / ".hydra" / "overrides.yaml"
    if hydra.is_file():
        return [str(o) for o in yaml.safe_load(hydra.read_text(encoding="utf-8")) or []]
    return None


def _cwd(run_dir: Path) -> str | None:
    hydra = run_dir / ".hydra" / "hydra.yaml"
    if not hydra.is_file():
        return None
    return ((yaml.safe_load(hydra.read_text(encoding="utf-8")) or {}).get("hydra", {})
            .get("runtime", {}).get("cwd"))


def resume_command(run_dir: Path) -> str | None:
    """`hala-exp OVERRIDES...` (after a `cd` when it ran elsewhere), or None without a run record."""
    overrides = _overrides(run_dir)
    if overrides is None:
        return None
    command = shlex.join(["hala-exp", *overrides])
    cwd = _cwd(run_dir)
    if cwd and Path(cwd).resolve() != Path.cwd().resolve():
        command = f"cd {shlex.quote(cwd)} && {command}"
    return command
