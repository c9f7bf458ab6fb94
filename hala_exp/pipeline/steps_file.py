"""`<run dir>/steps.json`: every step of the run's graph, what it needs and where it stands.

Written before the first step and after each one, so a failed or killed run still says which step
failed, why, and which never ran; `hala-exp-report` draws the step graph from it. results.json is
unchanged by it (it lists finished steps only, in its documented format).

{"steps": [{"name", "stage", "key", "needs": [step, ...], "status": "pending" | "running" | "ran" |
 "reused" | "failed" | "not run", "seconds", "log": "steps/<name>.log", "error", "headline",
 "broken": "<file>: <what is wrong>", "moved_to": "<store>/.broken/..." (a damaged entry redone)}]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hala_exp.json_files import write_json
from hala_exp.recipes.graph import Step

STEPS_FILE = "steps.json"


class StepsFile:
    def __init__(self, run_dir: Path, steps: list[Step], keys: dict[str, str]):
        self.path = run_dir / STEPS_FILE
        self.rows: dict[str, dict[str, Any]] = {
            s.name: {"name": s.name, "stage": s.stage, "key": keys[s.name], "status": "pending",
                     "needs": s.needs}
            for s in steps}
        self._write()

    def update(self, name: str, **fields: Any) -> None:
        self.rows[name].update(fields)
        self._write()

    def not_run(self) -> list[str]:
        """Mark every step still pending as never run; returns their names."""
        names = [n for n, r in self.rows.items() if r["status"] == "pending"]
        for n in names:
            self.rows[n]["status"] = "not run"
        self._write()
        return names

    def _write(self) -> None:
        write_json(self.path, {"steps": list(self.rows.values())}, atomic=True)
