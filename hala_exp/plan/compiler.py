"""Compile the composed, validated config into the run's `Plan`, once.

The one place that reads the config after composition: it builds the stage graph (`recipes`),
computes every key, asks each stage's declaration and the resources for where and how its step runs,
and reads the store's state of each step. Everything downstream reads the Plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from hala_exp.config.errors import ConfigError
from hala_exp.launch.resources import on_slurm, runs_in_one_job, stage_batch
from hala_exp.pipeline.dispatch import training_launch
from hala_exp.pipeline.fanout import parallelism_for, workers_for
from hala_exp.pipeline.hash_on_reuse import to_hash
from hala_exp.pipeline.interpreter import environment_name, interpreter_for
from hala_exp.pipeline.store import Store
from hala_exp.plan.compiled import Plan, PlannedStep, StoreState
from hala_exp.plan.frozen import freeze
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import Step, step_keys
from hala_exp.tracking.context import tracking_context
from hala_exp.training.batch import BatchError, BatchSplit

if TYPE_CHECKING:
    from hala_exp.launch.plan import ClusterSide, StepPlan


def compile_plan(cfg: DictConfig, launcher: DictConfig | None = None, explain: bool = False,
                 tracking: bool = True) -> Plan:
    """The Plan of `cfg` (validated already). `launcher`: Hydra's launcher node, when a submitit
    launcher runs the whole pipeline as one job. `explain`: say, for each step that runs, what differs
    from the closest entry in the store (plan=true). ConfigError when a training step's batch cannot
    split over the processes it gets."""
    graph = build_graph(cfg)
    keys = step_keys(graph)
    store = Store(cfg.store)
    one_job = runs_in_one_job(launcher)
    slurm = on_slurm(cfg, launcher)
    # before the jobs are sized: a split that cannot work is refused naming its keys, whatever plans it
    batches = {stage: _batch(cfg, stage, launcher) for stage in {s.stage for s in graph}}
    jobs: dict[str, StepPlan] = {}
    if slurm:  # each step's job (its own, or the pipeline's), launch, engine and memory
        from hala_exp.launch.plan import cluster_plan

        jobs = {p.name: p for p in cluster_plan(cfg, graph, launcher)}
    states = {s.name: _state(store, s, keys, explain) for s in graph}
    verify = to_hash(graph, keys, store, cfg.get("store_verify", "hash"), pending={n for n, st in states.items()
                                                                                  if st.runs})
    facts: dict[tuple, dict] = {}
    steps = tuple(_planned(cfg, s, keys, jobs.get(s.name), states[s.name], s.name in verify, batches[s.stage],
                           slurm and not one_job, facts) for s in graph)
    return Plan(
        name=str(cfg.name), recipe=str(cfg.get("recipe", "hala")), store=str(cfg.store),
        store_verify=str(cfg.get("store_verify", "hash")), steps=steps, verbose=bool(cfg.get("verbose", False)),
        gpus_per_node=int(cfg.runtime.get("gpus_per_node") or 0),
        tracking=freeze(tracking_context(cfg) if tracking else None),
        cluster=_cluster(cfg, launcher) if slurm else None, summary=freeze(_summary(cfg)))


def _state(store: Store, step: Step, keys: dict[str, str], explain: bool) -> StoreState:
    """Reused, or run (broken: the damaged file named; running elsewhere: who holds it). Sizes only: no
    file's content is read and nothing is moved."""
    from hala_exp.pipeline.key_change import why
    from hala_exp.pipeline.lease import describe, holder_of

    key = keys[step.name]
    problem = store.check(step.name, key)
    reason = None
    if problem is None and store.record(step.name, key):
        return StoreState("reused")
    if explain:
        reason = why(store, step, keys)
    if problem is not None:
        return StoreState("run", str(problem), problem.file, reason)
    holder = holder_of(store.root, step.name, key)
    if holder is not None:  # another process holds its lease: this run would wait for it, then reuse
        return StoreState("run", f"running now ({describe(holder)}): will be waited for", None, reason)
    return StoreState("run", None, None, reason)


def _batch(cfg: DictConfig, stage: str, launcher: DictConfig | None) -> BatchSplit | None:
    """How a step of `stage` splits its global batch (None: it does not train); ConfigError when it cannot."""
    try:
        return stage_batch(cfg, stage, launcher)
    except BatchError as e:
        raise ConfigError(str(e)) from None


def _planned(cfg: DictConfig, s: Step, keys: dict[str, str], job: StepPlan | None, state: StoreState,
             verify: bool, batch: BatchSplit | None, own_job: bool, facts: dict[tuple, dict]) -> PlannedStep:
    from dataclasses import replace

    gpus, nodes = (job.job.gpus_per_node, job.job.nodes) if own_job and job is not None else (None, None)
    where = (s.stage, gpus, nodes)
    if where not in facts:  # the same for every step of a stage in the same job shape: read the config once
        facts[where] = _stage_facts(cfg, s.stage, gpus, nodes)
    return PlannedStep(
        s.name, s.stage, s.fn, freeze(s.config), freeze(s.inputs), s.partial, freeze(s.messages), freeze(s.options),
        s.writes, key=keys[s.name],
        batch=batch, job=job, state=replace(state, verify=verify), **facts[where])


def _stage_facts(cfg: DictConfig, stage: str, gpus: int | None, nodes: int | None) -> dict:
    """Where and how a step of `stage` runs: interpreter, launch, workers."""
    python = interpreter_for(cfg.runtime, stage)
    launch = training_launch(cfg, stage, python, gpus, nodes)
    try:
        workers = workers_for(cfg.get("resources"), stage)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return {"environment": python, "environment_name": environment_name(cfg.runtime, stage),
            "launch": tuple(launch) if launch else None, "workers": workers,
            "parallelism": parallelism_for(cfg.get("resources"), stage)}


def _cluster(cfg: DictConfig, launcher: DictConfig | None) -> ClusterSide:
    from hala_exp.launch.plan import cluster_side

    return cluster_side(cfg, launcher, freeze(OmegaConf.to_container(cfg.cluster, resolve=True)))


def _summary(cfg: DictConfig) -> dict:
    """What the end-of-run tables name: the student (its paper rows) and, for `recipe=compare`, the systems."""
    systems = OmegaConf.to_container(cfg.systems, resolve=True) if cfg.get("recipe") == "compare" else None
    return {"model_id": OmegaConf.select(cfg, "model.id"), "systems": systems}
