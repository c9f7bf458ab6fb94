"""Benchmark suites on lighteval's task registry: expand task names, point tasks at local data, roll up.

A suite is a list of lighteval task specs (`name|fewshot`); a name without `:` (e.g. `arabic_mmlu`)
stands for every registered `name:<subset>` task, as in lighteval itself, minus the `exclude` list
(ArabicMMLU's `All` subset repeats every other subset, so the `oall` suite excludes it).

Roll-up (the paper's Table 1): a task's score is the **unweighted mean over its subsets** of the
suite's metric (a task without subsets keeps its own score), and the suite average is the
**unweighted mean of the task scores**, both on a 0-100 scale like the leaderboard. They are emitted
as `<suite>.<task>` and `<suite>.average`, beside lighteval's per-subset `task.subset.metric`.

Local data (clusters without internet): `data_dirs` maps a task name to a directory that
`datasets.load_dataset(dir, name=<subset>)` reads offline, such as a snapshot of the task's hub repo
(`huggingface-cli download --repo-type dataset <hf_repo> --local-dir <dir>`). lighteval has no
such option, so the requested tasks are handed to it as copies of the registry's own configs
(prompt, metrics, splits unchanged) with `hf_repo` set to the directory.

lighteval is imported inside the functions (several seconds).
"""

from __future__ import annotations

import copy
import types
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any


def split_spec(spec: str) -> tuple[str, int]:
    """'suite|task|k', 'task|k' or 'task' -> (task, k)."""
    parts = spec.split("|")
    if len(parts) == 3:
        parts = parts[1:]
    if len(parts) == 1:
        return parts[0], 0
    name, shots = parts
    if not shots.isdigit():
        raise ValueError(f"task {spec!r}: the few-shot count after '|' must be a number")
    return name, int(shots)


def task_of(name: str) -> str:
    """'arabic_mmlu:Driving Test' -> 'arabic_mmlu'."""
    return name.split(":", 1)[0].split("@", 1)[0]


def matching(name: str, names: Collection[str]) -> list[str]:
    """The registered tasks a name stands for: itself, or (a superset, no `:`) every `name:<subset>`."""
    if name in names:
        return [name]
    return sorted(n for n in names if n.startswith(name + ":")) if ":" not in name else []


def expand(specs: Iterable[str], registry: Iterable[str], exclude: Iterable[str] = ()) -> list[tuple[str, int]]:
    """Task specs as (registered task name, few-shot) pairs, supersets expanded, `exclude` dropped.

    A name that is neither registered nor a superset raises a ValueError naming it.
    """
    names = sorted(set(registry))
    excluded = set(exclude)
    out: list[tuple[str, int]] = []
    for spec in specs:
        name, shots = split_spec(spec)
        expanded = matching(name, names)
        if not expanded:
            raise ValueError(f"lighteval task {name!r} (from {spec!r}) is not in lighteval's registry; "
                             "list names with `lighteval tasks list` (multilingual tasks included)")
        out.extend((n, shots) for n in expanded if n not in excluded)
    return list(dict.fromkeys(out))


def _resolved(module: str | None, data_dir: str | None) -> tuple[str | None, str | None]:
    from hala_exp.data.paths import resolve_path

    if module and (module.endswith(".py") or module.startswith("samples:")):
        module = str(resolve_path(module))
    return module, str(resolve_path(data_dir)) if data_dir else None


def custom_sources(lcfg: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The custom-task modules as (module path or resolved file, resolved data directory) pairs, as
    `lighteval_run.score_tasks` and the task-name check take them, from `eval.lighteval` (its
    `custom_tasks` list) or from an evaluation step's key slice of it, which holds the first module
    as `custom_tasks` / `data_dir` and the rest as `extra_custom_tasks` (`stages.evaluate.keyed_custom`)."""
    custom = lcfg.get("custom_tasks")
    if custom is None or isinstance(custom, str):
        first = [{"module": custom, "data_dir": lcfg.get("data_dir")}] if custom else []
        custom = [*first, *(lcfg.get("extra_custom_tasks") or [])]
    return [_resolved(c["module"], c.get("data_dir")) for c in custom]


def load_registry(custom: types.ModuleType | None, multilingual: bool) -> dict[str, Any]:
    """lighteval's task configs by name (core, plus multilingual and custom ones when asked)."""
    from hala_exp.evaluation.offline import block_nltk_download, block_tiny_benchmarks_download

    block_tiny_benchmarks_download()
    block_nltk_download()
    from lighteval.tasks.registry import Registry

    return Registry.load_all_task_configs(custom_tasks=custom, load_multilingual=multilingual)


def resolve(specs: list[str], custom: types.ModuleType | None = None, exclude: Iterable[str] = (),
            ) -> tuple[list[tuple[str, int]], dict[str, Any], set[str]]:
    """(expanded specs, configs of all known tasks, names lighteval loads without the multilingual set).

    The multilingual registry (slow to import) is loaded only when a task is not found without it.
    """
    configs = load_registry(custom, multilingual=False)
    base = set(configs)
    try:
        return expand(specs, configs, exclude), configs, base
    except ValueError:
        configs = load_registry(custom, multilingual=True)
        return expand(specs, configs, exclude), configs, base


def task_module(tasks: list[tuple[str, int]], configs: Mapping[str, Any], base: set[str],
                custom: types.ModuleType | None, data_dirs: Mapping[str, str] | None = None,
                ) -> types.ModuleType:
    """A custom-tasks module for lighteval: the custom tasks, plus copies of every requested task that
    lighteval would not load by itself (the multilingual ones), with `hf_repo` set from `data_dirs`.

    lighteval is then run without its multilingual set, so no name is defined twice.
    """
    data_dirs = dict(data_dirs or {})
    requested = {name for name, _ in tasks}
    unknown = sorted(set(data_dirs) - {task_of(n) for n in requested})
    if unknown:
        raise ValueError(f"eval.lighteval.data_dirs names {unknown}, which are not among the suite's tasks "
                         f"({sorted({task_of(n) for n in requested})})")
    custom_names = {cfg.name for cfg in getattr(custom, "TASKS_TABLE", [])}
    table = list(getattr(custom, "TASKS_TABLE", []))
    for name in sorted(requested):
        local = data_dirs.get(task_of(name))
        in_base = name in base and name not in custom_names
        if in_base and local is not None:
            raise ValueError(f"eval.lighteval.data_dirs.{task_of(name)}: {name!r} is one of lighteval's core "
                             "tasks, which cannot be pointed at a local directory here; mirror its hub repo "
                             "in HF_DATASETS_CACHE instead")
        if in_base or name in custom_names:
            continue
        cfg = copy.deepcopy(configs[name])
        if local is not None:
            if not Path(local).is_dir():
                raise ValueError(f"eval.lighteval.data_dirs.{task_of(name)} = {local!r}: not a directory. Fix: "
                                 f"download the dataset repo {cfg.hf_repo} there")
            cfg.hf_repo = str(local)
            cfg.hf_revision = None
        table.append(cfg)
    module = types.ModuleType("hala_exp_lighteval_tasks", "Tasks handed to lighteval for one run.")
    module.TASKS_TABLE = table  # type: ignore[attr-defined]
    return module


def suite_scores(flat: Mapping[str, float], tasks: list[str], suite: str, metric: str) -> dict[str, float]:
    """`<suite>.<task>` (mean over the task's subsets) and `<suite>.average` (mean of tasks), 0-100.

    `flat` holds `task.subset.metric` and `task.metric` scores (see `flatten_results`); `tasks`
    are the suite's task specs, grouped by the name before `:`.
    """
    out: dict[str, float] = {}
    for task in dict.fromkeys(task_of(split_spec(s)[0]) for s in tasks):
        subsets = [v for k, v in flat.items()
                   if k.startswith(task + ".") and k.endswith("." + metric) and k.count(".") >= 2
                   and k[len(task) + 1:-len(metric) - 1]]
        if not subsets and f"{task}.{metric}" not in flat:
            raise ValueError(f"no {metric!r} score for task {task!r} (have {sorted(flat)[:6]}...); "
                             "set eval.lighteval.metric to the tasks' metric")
        value = sum(subsets) / len(subsets) if subsets else flat[f"{task}.{metric}"]
        out[f"{suite}.{task}"] = 100.0 * value
    if out:
        out[f"{suite}.average"] = sum(out.values()) / len(out)
    return out
