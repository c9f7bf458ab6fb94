"""The `hala_search` Hydra sweeper: optuna asks, Hydra's launcher runs, results.json answers.

Each trial is one ordinary run of the pipeline with the trial's values as overrides, in
`<sweep dir>/<trial number>`, so the store shares every step upstream of the searched values (the
fine-tune is trained once) and a trial's steps are W&B runs in the search's group. Trials go to the
launcher `batch_size` at a time (parallel jobs under `hydra/launcher=slurm_h100`). After each batch
`search.json` lists every trial and the Pareto front (optuna's `best_trials`).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hala_exp.config.errors import ConfigError
from hala_exp.json_files import replace_text
from hala_exp.search.objectives import Objective, parse_objective, step_of
from hala_exp.search.space import Param, parse_space
from hala_exp.search.study import completed, driver_lock, open_study, requeue_unfinished
from hala_exp.tracking.context import defining_overrides

SUMMARY = "search.json"


def _objectives(specs: Any) -> list[Objective]:
    specs = list(specs or [])
    if not specs:
        raise ConfigError("hydra.sweeper.objectives = []: nothing to optimise. Fix: e.g. "
                          "'hydra.sweeper.objectives=[heldout.student_merged.arabic.loss:min]'")
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(parse_objective(spec))
        except ValueError as e:
            raise ConfigError(f"hydra.sweeper.objectives[{i}] = {spec!r}: {e}") from None
    return out


def _sampler(conf: dict[str, Any], trials_so_far: int = 0) -> Any:
    """The sampler of `hydra.sweeper.sampler`. A resumed study's sampler starts from `seed` plus the
    trials already in it: from `seed` itself it would draw again the values it drew before the stop."""
    import optuna

    conf = dict(conf)
    if conf.get("seed") is not None and trials_so_far:
        conf["seed"] = int(conf["seed"]) + trials_so_far
    name = conf.pop("name", None)
    cls = getattr(optuna.samplers, str(name), None)
    if not isinstance(cls, type) or not issubclass(cls, optuna.samplers.BaseSampler):
        raise ConfigError(f"hydra.sweeper.sampler.name = {name!r}: not a sampler of optuna.samplers. Fix: "
                          "NSGAIISampler (multi-objective), TPESampler or RandomSampler")
    try:
        return cls(**conf)
    except TypeError as e:
        raise ConfigError(f"hydra.sweeper.sampler = {conf!r}: {e}. Fix: the keyword arguments of "
                          f"optuna.samplers.{name}") from None


def _fixed(arguments: list[str], space: list[Param]) -> list[str]:
    """The command line's own overrides, each one value (the search owns every searched key)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = {p.key for p in space}
    for o in OverridesParser.create().parse_overrides(arguments):
        key = o.get_key_element().lstrip("+~")
        if o.is_sweep_override():
            raise ConfigError(f"{key} = {o.get_value_element_as_str()!r}: a search runs one value per key given "
                              f"on the command line. Fix: search it (hydra.sweeper.params.{key}) or give one value")
        if key in keys:
            raise ConfigError(f"{key}: set on the command line and searched (hydra.sweeper.params.{key}). "
                              "Fix: drop one of them")
    return list(arguments)


def _value_of(results: dict[str, Any], o: Objective, trial: int, run_dir: Path) -> float:
    v = results.get("metrics", {}).get(o.metric)
    if v is None:
        near = sorted(m for m in results.get("metrics", {}) if m.startswith(step_of(o.metric)))[:12]
        raise ConfigError(f"hydra.sweeper.objectives: {o.metric!r} is not in trial {trial}'s "
                          f"{run_dir / 'results.json'}. Fix: one of {', '.join(near) or 'its metrics'}")
    return float(v)


class SearchSweeper:
    """Implementation of the plugin class (hydra_plugins.hala_exp_search), kept out of the plugin
    module so that Hydra's plugin scan at every start-up imports nothing of optuna."""

    def __init__(self, objectives: Any, params: Any, n_trials: int, batch_size: int, sampler: Any) -> None:
        self.objective_specs = list(objectives or [])
        self.params = {str(k): str(v) for k, v in (params or {}).items()}
        self.n_trials = n_trials
        self.batch_size = batch_size
        self.sampler_conf = dict(sampler or {})
        self.hydra_context: Any = None
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        try:
            return self._sweep(arguments)
        except ConfigError as e:
            print(f"hala-exp: config error: {e}", file=sys.stderr)
            sys.exit(2)

    def _check(self, arguments: list[str]) -> tuple[list[Objective], list[Param], list[str]]:
        objectives = _objectives(self.objective_specs)
        space = parse_space(self.params)
        for key, value in (("n_trials", self.n_trials), ("batch_size", self.batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"hydra.sweeper.{key} = {value!r}: must be a whole number >= 1. "
                                  f"Fix: hydra.sweeper.{key}=8")
        return objectives, space, _fixed(arguments, space)

    def _check_steps(self, overrides: list[str], objectives: list[Objective]) -> None:
        """Every objective's step is a step the trial's pipeline runs (`targets` included), before any runs."""
        from hala_exp.config import validate
        from hala_exp.recipes import build_graph

        cfg = self.hydra_context.config_loader.load_sweep_config(master_config=self.config,
                                                                 sweep_overrides=overrides)
        validate(cfg)
        names = {s.name for s in build_graph(cfg)}
        for i, o in enumerate(objectives):
            if step_of(o.metric) not in names:
                near = sorted(n for n in names if n.split(".")[0] == step_of(o.metric).split(".")[0])
                raise ConfigError(f"hydra.sweeper.objectives[{i}] = {o.spec()!r}: no step "
                                  f"{step_of(o.metric)!r} in this pipeline (targets={list(cfg.get('targets') or [])}). "
                                  f"Fix: an objective of {', '.join(near or sorted(names)[:8])}, or widen targets")

    def _sweep(self, arguments: list[str]) -> list[dict[str, Any]]:
        assert self.config is not None and self.launcher is not None
        objectives, space, fixed = self._check(arguments)
        sampler = _sampler(self.sampler_conf)
        self._check_steps(fixed, objectives)  # before the study exists: a fixed command is no other search
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        definition = {"objectives": [o.spec() for o in objectives], "params": self.params,
                      "sampler": self.sampler_conf,
                      "overrides": defining_overrides(fixed)}  # where outputs go is no part of it
        with driver_lock(sweep_dir):
            study = open_study(sweep_dir, definition, sampler, [o.direction for o in objectives])
            if study.get_trials(deepcopy=False):
                study.sampler = _sampler(self.sampler_conf, len(study.get_trials(deepcopy=False)))
            retried = requeue_unfinished(study)
            if retried:
                print(f"search: trials {', '.join(map(str, retried))} did not finish; running their values again")
            done = len(completed(study))
            print(f"search: {sweep_dir}: {done} of {self.n_trials} trials done")
            while (done := len(completed(study))) < self.n_trials:
                self._batch(study, space, fixed, objectives, min(self.batch_size, self.n_trials - done), sweep_dir)
            front = write_summary(study, sweep_dir, objectives, space)
        print(f"search: Pareto front of {len(completed(study))} trials ({', '.join(o.spec() for o in objectives)}):")
        for t in front:
            print(f"  trial {t['number']}: {' '.join(t['overrides'])} -> "
                  + ", ".join(f"{v:.4f}" for v in t["values"]))
        print(f"search: {sweep_dir / SUMMARY}")
        return front

    def _batch(self, study: Any, space: list[Param], fixed: list[str], objectives: list[Objective], n: int,
               sweep_dir: Path) -> None:
        trials = [study.ask() for _ in range(n)]
        numbers = [t.number for t in trials]
        assert numbers == list(range(numbers[0], numbers[0] + n)), numbers  # run dirs are trial numbers
        batch = []
        for t in trials:
            own = [p.override(p.suggest(t)) for p in space]
            t.set_user_attr("overrides", own)
            batch.append([*fixed, *own])
        self.validate_batch_is_legal(batch)
        write_summary(study, sweep_dir, objectives, space)
        returns = self.launcher.launch(batch, initial_job_idx=numbers[0])
        error: BaseException | None = None
        for t, ret in zip(trials, returns):
            try:
                ret.return_value  # raises the trial's own error when its job failed
                run_dir = Path(ret.hydra_cfg.hydra.runtime.output_dir)
                results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
                values = [_value_of(results, o, t.number, run_dir) for o in objectives]
            except ConfigError as e:
                study.tell(t, state=_fail())
                error = error or e
                continue
            except Exception as e:  # the job failed: its values run again when the command is run again
                study.tell(t, state=_fail())
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
                error = error or e
                continue
            t.set_user_attr("run_dir", str(run_dir))
            if not all(math.isfinite(v) for v in values):
                study.tell(t, state=_fail())
                print(f"search: trial {t.number}: objectives not finite ({values}); not counted")
                continue
            study.tell(t, values)
            print(f"search: trial {t.number}: {' '.join(t.user_attrs['overrides'])} -> "
                  + ", ".join(f"{o.metric} {v:.4f}" for o, v in zip(objectives, values)))
        write_summary(study, sweep_dir, objectives, space)
        if error is not None:
            raise error

    def validate_batch_is_legal(self, batch: list[list[str]]) -> None:
        for overrides in batch:
            self.hydra_context.config_loader.load_sweep_config(master_config=self.config, sweep_overrides=overrides)


def _fail() -> Any:
    from optuna.trial import TrialState

    return TrialState.FAIL


def write_summary(study: Any, sweep_dir: Path, objectives: list[Objective], space: list[Param]) -> list[dict]:
    """search.json: the objectives, every trial (state, values, overrides, run dir) and the Pareto
    front, rewritten whole after each batch (a reader never sees half a file). Returns the front."""
    def row(t: Any) -> dict[str, Any]:
        return {"number": t.number, "state": t.state.name, "values": t.values, "params": t.params,
                "overrides": t.user_attrs.get("overrides", []), "run_dir": t.user_attrs.get("run_dir"),
                "retry_of": t.user_attrs.get("retry_of")}

    front = [row(t) for t in study.best_trials] if completed(study) else []
    replace_text(sweep_dir / SUMMARY, json.dumps({
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in objectives],
        "params": {p.key: p.kind for p in space},
        "journal": str(sweep_dir / "study.journal"),
        "trials": [row(t) for t in study.get_trials(deepcopy=False)],
        "front": [t["number"] for t in front],
    }, indent=2) + "\n")
    return front
