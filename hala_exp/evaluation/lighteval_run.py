"""Run lighteval (its transformers back-end, on any device) through its Python `Pipeline`; flatten its scores.

Stale scores: lighteval caches model outputs under `<cache_dir>/<model_name>/<hash of the model
config>`; the config holds the path, not the weights, and an absolute path makes that folder sit
inside the model directory. Weights overwritten in place would then be scored from the old
outputs. We never hand lighteval the model directory itself: it loads a fresh folder of symlinks
to the model's files (`out_dir/_model`), so its cache lands there, and that folder is deleted
before and after every run. No output of an earlier run can be reused, and nothing is written
into the model directory.

lighteval is imported inside the functions (about 8 s).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import types
from pathlib import Path
from typing import Any

from hala_exp.evaluation.offline import block_nltk_download, block_tiny_benchmarks_download
from hala_exp.json_files import write_json

VIEW = "_model"
_FEWSHOT = re.compile(r"[|:]\d+$")
# lighteval's batch size counts sequences (question x choice) and turns it into questions per batch
# as round(size // max_choices / 8) * 8 (at least 1): 16 would mean one question at a time. Our
# `batch_size` is questions per batch, so lighteval gets it times 4 (4-choice questions give exactly
# `batch_size`, rounded to a multiple of 8; 2-choice ones twice as many).
CHOICES_PER_QUESTION = 4


def custom_module(custom_tasks: str | None, data_dir: str | None) -> types.ModuleType | None:
    """The custom tasks as a module; `data_dir` rebuilds its tasks via its `build_tasks(data_dir)`."""
    if custom_tasks is None:
        if data_dir is not None:
            raise ValueError("data_dir needs custom_tasks: a module with build_tasks(data_dir)")
        return None
    module = (_module_from_file(custom_tasks) if custom_tasks.endswith(".py") or Path(custom_tasks).is_file()
              else importlib.import_module(custom_tasks))
    if data_dir is None:
        return module
    if not hasattr(module, "build_tasks"):
        raise ValueError(f"custom tasks {custom_tasks} have no build_tasks(data_dir) to point at {data_dir}")
    view = types.ModuleType(f"{module.__name__}_at_data_dir", module.__doc__)
    view.TASKS_TABLE = module.build_tasks(data_dir)  # type: ignore[attr-defined]
    return view


def custom_tasks_module(custom: list[tuple[str | None, str | None]]) -> types.ModuleType | None:
    """One custom-tasks module from (module, data_dir) pairs: their TASKS_TABLEs in order.

    A single pair gives its module as `custom_module` does; a task name defined by two of the
    modules raises a ValueError naming it.
    """
    modules = [m for m in (custom_module(name, data_dir) for name, data_dir in custom) if m is not None]
    if len(modules) <= 1:
        return modules[0] if modules else None
    table = [cfg for m in modules for cfg in getattr(m, "TASKS_TABLE", [])]
    names = [cfg.name for cfg in table]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"custom tasks {twice} are defined by more than one of {[n for n, _ in custom]}")
    combined = types.ModuleType("hala_exp_custom_tasks", "Custom tasks of several modules.")
    combined.TASKS_TABLE = table  # type: ignore[attr-defined]
    return combined


def _module_from_file(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import custom tasks from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_view(model_dir: str, out_dir: Path) -> str:
    """A fresh folder of symlinks to a local model's files (hub ids pass through)."""
    src = Path(model_dir).expanduser()
    if not src.is_dir():
        return model_dir
    view = out_dir / VIEW
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    for entry in src.resolve().iterdir():
        (view / entry.name).symlink_to(entry)
    return str(view.resolve())


def _unnest_details(out_dir: Path, model_name: str) -> None:
    """lighteval writes `details/<model path>/<date>/`; keep `details/<date>/` so the folder can move."""
    parts = Path(model_name.strip("/")).parts
    nested = out_dir.joinpath("details", *parts)
    if not parts or not nested.is_dir():
        return
    for run in nested.iterdir():
        run.rename(out_dir / "details" / run.name)
    shutil.rmtree(out_dir / "details" / parts[0])


def flatten_results(results: dict[str, dict[str, float]]) -> dict[str, float]:
    """lighteval's `{"task:subset|k": {metric: v}}` -> `{"task.subset.metric": v, "task.metric": mean}`.

    The task-level value is lighteval's own `task:_average|k` (unweighted mean over subsets); a task
    without subsets keeps its score. Stderr entries are dropped; a metric name keeps the part before
    its `:params` (they are in the saved results file).
    """
    flat: dict[str, float] = {}
    subsets: dict[str, list[float]] = {}
    for key, metrics in results.items():
        if key == "all":
            continue
        name = _FEWSHOT.sub("", key)  # "task:subset|0" (the saved file writes "task:subset:0")
        task, _, subset = name.partition(":")
        prefix = task if subset in ("", "_average") else f"{task}.{subset}"
        for metric, value in metrics.items():
            if metric.endswith("_stderr") or value is None:
                continue
            metric = metric.split(":")[0]
            flat[f"{prefix}.{metric}"] = float(value)
            if prefix != task:
                subsets.setdefault(f"{task}.{metric}", []).append(float(value))
    for key, values in subsets.items():  # lighteval writes no _average for a single subset
        flat.setdefault(key, sum(values) / len(values))
    return dict(sorted(flat.items()))


def model_config(model_name: str, batch_size: int, device: str, cache_dir: str, dtype: str = "auto"
                 ) -> tuple[Any, Any]:
    """(lighteval model config, launcher): lighteval's transformers back-end, on any device.

    `dtype` is the engine's (`engine.dtype`): auto runs float32 on CPU and bfloat16 (every preset's
    model dtype) on GPUs, never the float32 a fine-tune is saved in. (Why not lighteval's vLLM
    back-end: README, "Evaluation on GPUs".)
    """
    from lighteval.models.transformers.transformers_model import TransformersModelConfig
    from lighteval.pipeline import ParallelismManager

    from hala_exp.models.loading import attention_kwargs

    cfg = TransformersModelConfig(
        model_name=model_name, batch_size=batch_size * CHOICES_PER_QUESTION, device=device,
        dtype=dtype if dtype != "auto" else ("float32" if device == "cpu" else "bfloat16"), cache_dir=cache_dir,
        model_loading_kwargs=attention_kwargs(model_name))
    return cfg, ParallelismManager.ACCELERATE


def prepare(tasks: list[str], custom: list[tuple[str, str | None]] | None = None,
            exclude: list[str] | None = None, data_dirs: dict[str, str] | None = None
            ) -> tuple[list[tuple[str, int]], types.ModuleType]:
    """(the tasks expanded to registered (name, fewshot) pairs, the custom-tasks module lighteval gets).

    Names are checked here, before any model loads.
    """
    from hala_exp.evaluation.suites import resolve, task_module

    block_tiny_benchmarks_download()
    block_nltk_download()
    module = custom_tasks_module(list(custom or []))
    expanded, configs, base = resolve(list(tasks), module, exclude or ())
    return expanded, task_module(expanded, configs, base, module, data_dirs)


def evaluate(model_dir: str, expanded: list[tuple[str, int]], module: types.ModuleType, out_dir: Path,
             max_samples: int | None = None, batch_size: int = 8, device: str = "cpu",
             dtype: str = "auto") -> dict[str, dict[str, float]]:
    """lighteval's raw results (`{"task:subset|k": {metric: value}}`) for `expanded` on `model_dir`;
    its details and results files go to `out_dir`."""
    from lighteval.logging.evaluation_tracker import EvaluationTracker
    from lighteval.pipeline import Pipeline, PipelineParameters

    from hala_exp.models.loading import pick_device

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    model_name = _model_view(model_dir, out_dir)
    try:
        tracker = EvaluationTracker(output_dir=str(out_dir), results_path_template="{output_dir}/results",
                                    save_details=True)
        model_cfg, launcher = model_config(model_name, batch_size, device, str(out_dir / VIEW / "cache"), dtype)
        params = PipelineParameters(
            launcher_type=launcher, custom_tasks_directory=module,  # type: ignore[arg-type]
            max_samples=max_samples, load_tasks_multilingual=False)
        pipeline = Pipeline(tasks=",".join(f"{n}|{k}" for n, k in expanded), pipeline_parameters=params,
                            evaluation_tracker=tracker, model_config=model_cfg)
        pipeline.evaluate()
        pipeline.save_and_push_results()
        _unnest_details(out_dir, model_name)
        return pipeline.get_results()["results"]
    finally:
        shutil.rmtree(out_dir / VIEW, ignore_errors=True)


def write_metrics(out_dir: Path, model_dir: str, tasks: list[str], expanded: list[tuple[str, int]],
                  data_dirs: dict[str, str] | None, flat: dict[str, float], **extra: Any) -> None:
    write_json(Path(out_dir) / "metrics.json", {"model": str(model_dir), "tasks": list(tasks),
                                                "expanded": [f"{n}|{k}" for n, k in expanded],
                                                "data_dirs": dict(data_dirs or {}), "metrics": flat, **extra})


def score_tasks(model_dir: str, tasks: list[str], out_dir: Path, custom: list[tuple[str, str | None]] | None = None,
                max_samples: int | None = None, batch_size: int = 8, device: str = "cpu",
                exclude: list[str] | None = None, data_dirs: dict[str, str] | None = None,
                dtype: str = "auto") -> dict[str, float]:
    """Evaluate `model_dir` on lighteval `tasks` ("name|fewshot"); details and results go to `out_dir`.

    A name without `:` runs all its subsets but those in `exclude`; `data_dirs` maps task names to
    local dataset directories (see `suites`). The custom tasks are those of each (module, data_dir)
    pair of `custom` (`suites.custom_sources`). `batch_size` is
    questions per forward batch (see CHOICES_PER_QUESTION); `device` may be "auto". Task names are
    checked before the model loads. `dtype`: see `model_config`.
    """
    expanded, module = prepare(tasks, custom, exclude, data_dirs)
    results = evaluate(model_dir, expanded, module, Path(out_dir), max_samples, batch_size, device, dtype)
    flat = flatten_results(results)
    write_metrics(Path(out_dir), model_dir, tasks, expanded, data_dirs, flat)
    return flat
