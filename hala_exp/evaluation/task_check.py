"""Unknown lighteval task names fail when the run starts, not after training, at its evaluation step.

`eval.lighteval.tasks` is checked against lighteval's own registry (core tasks, then the
multilingual ones only if a name is missing there, as `suites.resolve` loads them) plus the custom
tasks module's `TASKS_TABLE`. Loading that registry imports lighteval (about 8 s), so:

- the check runs only when the run would evaluate: tasks are set, it is not `plan=true`, and some
  `evaluate_lighteval` step is not already in the store. A start-up that plans, reuses every
  evaluation or evaluates nothing imports nothing; one that evaluates pays the import at its
  evaluation step anyway (in this process the modules are then already loaded).
- it runs in the interpreter the evaluation will (`runtime.stages.evaluate_lighteval`), as
  `<python> -m hala_exp.evaluation.task_check`, since lighteval may live only there.

No cache of registry names: the custom tasks come from a module and its `data_dir`, which change
without any version to key on, and a stale list would refuse names that exist.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

KEY = "eval.lighteval.tasks"


def task_problems(specs: list[str], names: Iterable[str]) -> list[str]:
    """One message per spec whose task is not among `names` (nor a superset of some), with the closest
    known names as the fix."""
    from hala_exp.evaluation.suites import matching, split_spec, task_of

    names = set(names)
    problems = []
    for i, spec in enumerate(specs):
        try:
            name, _ = split_spec(spec)
        except ValueError as e:
            problems.append(f"{KEY}[{i}] = {spec!r}: {e}. Fix: write it as 'task|0' (task, then few-shot count)")
            continue
        if matching(name, names):
            continue
        close = difflib.get_close_matches(name, sorted({*names, *map(task_of, names)}), n=3, cutoff=0.6)
        fix = (f"use one of {', '.join(repr(c) for c in close)}" if close
               else "list the names with `lighteval tasks list` (multilingual tasks included)")
        problems.append(f"{KEY}[{i}] = {spec!r}: {name!r} is not a lighteval task (core, multilingual or "
                        f"eval.lighteval.custom_tasks). Fix: {fix}")
    return problems


def registry_problems(tasks: list[str], custom: list[list[str | None]]) -> list[str]:
    """`task_problems` against lighteval's registry and the custom tasks, given as (module, data_dir)
    pairs (imports lighteval)."""
    from hala_exp.evaluation.lighteval_run import custom_tasks_module
    from hala_exp.evaluation.suites import load_registry

    try:
        module = custom_tasks_module([(m, d) for m, d in custom])
    except Exception as e:  # noqa: BLE001 - any import error of the user's module is a config error
        names = [m for m, _ in custom if m]
        return [f"eval.lighteval.custom_tasks = {names!r}: cannot be loaded ({type(e).__name__}: {e}). "
                "Fix: point each module of it at an importable module or a .py file with TASKS_TABLE"]
    problems = task_problems(tasks, load_registry(module, multilingual=False))
    if problems:
        problems = task_problems(tasks, load_registry(module, multilingual=True))
    return problems


def _problems_in(python: str, request: dict[str, Any]) -> list[str]:
    proc = subprocess.run([python, "-m", "hala_exp.evaluation.task_check", json.dumps(request)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        from hala_exp.config.errors import ConfigError

        raise ConfigError(f"runtime.stages.evaluate_lighteval = {python!r}: checking {KEY} there failed "
                          f"(exit {proc.returncode}): {proc.stderr.strip()[-1500:]}. Fix: install lighteval and "
                          "hala-exp in that environment, or point runtime.stages.evaluate_lighteval at one")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_task_names(tasks: list[str], custom: list[list[str | None]], python: str | None) -> None:
    """Raise ConfigError naming every unknown task, checked in `python` (None: this interpreter), where
    the evaluation will run (`hala_exp.plan.checks.check_tasks` decides whether a run needs it)."""
    from hala_exp.config.errors import ConfigError

    request = {"tasks": list(tasks), "custom": [list(pair) for pair in custom]}
    try:
        problems = registry_problems(**request) if python is None else _problems_in(python, request)
    except ImportError as e:
        raise ConfigError(f"{KEY} = {list(tasks)}: lighteval cannot be imported here to check them ({e}). "
                          "Fix: install requirements (lighteval[multilingual]) or point "
                          "runtime.stages.evaluate_lighteval at an environment that has it") from e
    if problems:
        raise ConfigError("\n".join(problems))


def main() -> None:
    """`python -m hala_exp.evaluation.task_check '{"tasks": [...], "custom": [[module, data_dir], ...]}'`:
    prints the problems as a JSON list on the last line of stdout."""
    request = json.loads(sys.argv[1])
    print(json.dumps(registry_problems(**request)))


if __name__ == "__main__":
    main()
