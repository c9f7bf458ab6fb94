"""The cluster plan: for each step, the Slurm job it runs in, its interpreter, how it launches, its
engine and (training) its global batch; and the checks that refuse a plan that cannot work, before
anything is submitted.

Two ways to use Slurm (README, Slurm): one job per step (`cluster.submit=slurm`, jobs sized by the
`resources` preset), or the whole pipeline in one job of Hydra's submitit launcher
(`hydra/launcher=slurm_h100`), where every step runs inside that job and training uses
`runtime.gpus_per_node` x `runtime.nodes` processes. What a stage does with GPUs is its declaration
(`StageInfo.gpus`, `.weights`, `.trains`); what a job asks for is the preset's, except that a step's
GPUs follow its engine's tensor-parallel size (`evaluate_translation` serves the teacher and the
translator).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from omegaconf import DictConfig

from hala_exp.launch import LaunchError
from hala_exp.launch.batch import training_batch
from hala_exp.launch.gpu_memory import serving_gb, training_gb
from hala_exp.launch.queue import PartitionLimits
from hala_exp.launch.resources import FIELDS, Request, check_request, estimated_mem_gb, runs_in_one_job, stage_request
from hala_exp.recipes.graph import Step
from hala_exp.stages import STAGES
from hala_exp.training.batch import BatchSplit

SINGLE = "single process"


@dataclass(frozen=True)
class Engine:
    backend: str
    tensor_parallel_size: int  # GPUs one engine uses (1 for transformers)
    key: str  # config key of its tensor-parallel size
    workers: int  # processes over the step's shards (a job array on Slurm)
    device: str  # engine.device: cuda, cpu or auto (a GPU when the job has one)


@dataclass(frozen=True)
class StepPlan:
    name: str
    stage: str
    job: Request
    env: str  # `runtime.stages.<stage>`: an environment's name and interpreter, or the current one
    processes: int  # processes one run of the step starts in its job
    strategy: str  # ddp / fsdp / zero3 across training processes, else SINGLE
    gpus_used: int  # GPUs of each of its job's nodes those processes use
    engine: Engine | None
    batch: BatchSplit | None
    gpu_gb: float | None  # estimated GPU memory each GPU must hold (a lower bound), None if unknown
    trains: bool
    host_gb: float | None = None  # training on CPUs: what the job's memory must hold (a lower bound)


@dataclass(frozen=True)
class ClusterSide:
    """What Slurm submission and the plan's checks need of a run besides its steps, fixed when the run
    is compiled (`hala_exp.plan`)."""

    submit: str  # cluster.submit: local | slurm
    one_job: bool  # the whole pipeline is one job of Hydra's submitit launcher
    settings: Any  # the cluster group, read-only (partition, account, env, setup, limits, ...)
    pipeline_job: Request | None  # that job's request, when `one_job`
    resources_name: str
    sized_stages: tuple[str, ...]  # the stages the resources preset gives an entry
    gpu_memory_utilization: float  # engine.gpu_memory_utilization: what vLLM may use of a GPU
    runtime_gpus_per_node: int
    runtime_nodes: int
    distributed: str  # train.distributed


def cluster_side(cfg: DictConfig, launcher: DictConfig | None, settings: Any) -> ClusterSide:
    res = cfg.resources
    return ClusterSide(
        submit=str(cfg.cluster.submit), one_job=runs_in_one_job(launcher), settings=settings,
        pipeline_job=pipeline_job(launcher), resources_name=str(res.get("name")),
        sized_stages=tuple(res.get("stages") or {}),
        gpu_memory_utilization=float(cfg.engine.get("gpu_memory_utilization") or 1.0),
        runtime_gpus_per_node=int(cfg.runtime.gpus_per_node), runtime_nodes=int(cfg.runtime.nodes),
        distributed=str(cfg.train.distributed))


def pipeline_job(launcher: DictConfig | None) -> Request | None:
    """The one job of Hydra's submitit launcher that runs the whole pipeline, or None."""
    if not runs_in_one_job(launcher):
        return None
    values = {f: launcher.get(f) for f in FIELDS}
    return Request(int(values["nodes"]), int(values["gpus_per_node"] or 0), int(values["tasks_per_node"]),
                   int(values["cpus_per_task"]), float(values["mem_gb"]), int(values["timeout_min"]),
                   {f: f"hydra.launcher.{f}" for f in FIELDS})


def step_engine(cfg: DictConfig, step: Step, workers: int) -> Engine | None:
    """The generation engine of an engine stage's step, from its key slice (the teacher's steps carry
    the teacher's tensor-parallel size)."""
    if STAGES[step.stage].gpus != "engine" or "engine" not in step.config:
        return None
    e = step.config["engine"]
    backend = e.get("backend", cfg.engine.backend)
    tp = int(e.get("tensor_parallel_size") or 1) if backend == "vllm" else 1
    own = cfg.teacher.get("tensor_parallel_size")
    key = ("teacher.tensor_parallel_size" if own is not None and tp == own
           and tp != cfg.engine.get("tensor_parallel_size") else "engine.tensor_parallel_size")
    return Engine(backend, tp, key, workers, str(e.get("device", cfg.engine.device)))


def step_request(cfg: DictConfig, step: Step, engine: Engine | None = None) -> Request:
    """The job of one step: its stage's entry in `resources`, its GPUs raised to its engine's
    tensor-parallel size where the entry has fewer."""
    from hala_exp.pipeline.fanout import workers_for

    req = stage_request(cfg.resources, step.stage, estimated_mem_gb(cfg, step.stage))
    engine = engine or step_engine(cfg, step, workers_for(cfg.resources, step.stage))
    # on GPUs: asked for, or the engine's device says so (a CPU job's `auto` engine stays on the CPU)
    on_gpu = engine is not None and (req.gpus_per_node > 0 or engine.device == "cuda")
    if on_gpu and engine.tensor_parallel_size > req.gpus_per_node:
        req = replace(req, gpus_per_node=engine.tensor_parallel_size,
                      origin={**req.origin, "gpus_per_node": engine.key})
    return req


def plan_step(cfg: DictConfig, step: Step, job: Request | None = None) -> StepPlan:
    """One step's plan: in `job` (the pipeline's) when given, else in a job of its own."""
    from hala_exp.pipeline.dispatch import training_launch
    from hala_exp.pipeline.fanout import workers_for
    from hala_exp.pipeline.interpreter import environment_name
    from hala_exp.training.launch import choose_strategy

    info = STAGES[step.stage]
    workers = workers_for(cfg.resources, step.stage)
    engine = step_engine(cfg, step, workers)
    req = job or step_request(cfg, step, engine)
    rt = cfg.runtime
    weights = info.weights(cfg, step.config) if info.weights else None
    processes, strategy, batch, gpu_gb, host_gb = 1, SINGLE, None, None, None
    if info.trains is not None:
        from hala_exp.stages.declaration import group_weights

        gpus, nodes = (rt.gpus_per_node, rt.nodes) if job is not None else (req.gpus_per_node, req.nodes)
        if training_launch(cfg, step.stage, None, gpus, nodes) is not None:
            processes = gpus * nodes
            strategy = choose_strategy(cfg.train.distributed, cfg[info.trains.model].get("params_b"),
                                       cfg.train.ddp_max_params_b)
        batch = training_batch(cfg, info.trains, processes)
        used = gpus if processes > 1 else min(1, req.gpus_per_node)
        w = group_weights(cfg, info.trains.model)
        gpu_gb = training_gb(w, strategy, processes) if w and used else None
        host_gb = training_gb(w, strategy, processes) * processes / req.nodes if w and not used else None
        weights = w
    elif info.gpus == "none":
        used = 0
    elif info.gpus == "spread":
        used = req.gpus_per_node
    elif engine is not None:
        used = min(engine.tensor_parallel_size, req.gpus_per_node) if req.gpus_per_node else 0
    else:
        used = min(1, req.gpus_per_node)
    if weights is not None and used and info.trains is None:
        gpu_gb = serving_gb(weights, used if info.gpus == "spread" or engine else 1)
    return StepPlan(step.name, step.stage, req, environment_name(cfg.runtime, step.stage), processes, strategy,
                    used, engine, batch, gpu_gb, info.trains is not None, host_gb)


def cluster_plan(cfg: DictConfig, steps: list[Step], launcher: DictConfig | None = None) -> list[StepPlan]:
    job = pipeline_job(launcher)
    return [plan_step(cfg, s, job) for s in steps]


def _gpu_budget(side: ClusterSide, p: StepPlan, limits: PartitionLimits) -> float | None:
    """What one GPU offers the step: vLLM takes `engine.gpu_memory_utilization` of it."""
    if not limits.gpu_mem_gb:
        return None
    if p.engine is not None and p.engine.backend == "vllm":
        return limits.gpu_mem_gb * side.gpu_memory_utilization
    return float(limits.gpu_mem_gb)


def problems(side: ClusterSide, plans: list[StepPlan], limits: PartitionLimits) -> list[str]:
    """Every reason the plan cannot work on `limits`, each naming the key, its value and the fix."""
    whole = side.pipeline_job
    found: list[str] = []
    if whole is not None:
        try:
            check_request("(the whole pipeline)", "hydra/launcher", whole, limits)
        except LaunchError as e:
            found.append(str(e))
    same: dict[str, list[str]] = {}  # one problem of several steps of a stage is said once
    for p in plans:
        where = f"step {p.name} ({p.stage})"
        mine: list[str] = _own_job_problems(side, p, limits) if whole is None else []
        gpus = p.job.gpus_per_node
        on_gpu = p.engine is not None and (gpus > 0 or p.engine.device == "cuda")
        if on_gpu and p.engine.tensor_parallel_size > gpus:
            mine.append(f"{p.engine.key} = {p.engine.tensor_parallel_size}: {where} splits its model over "
                         f"{p.engine.tensor_parallel_size} GPUs, but its job has {_key(p, 'gpus_per_node')} = {gpus}. "
                         f"Fix: lower {p.engine.key}, or give the job {p.engine.tensor_parallel_size} GPUs")
        if whole is not None and p.engine is not None and p.engine.workers > 1 \
                and p.engine.tensor_parallel_size * p.engine.workers > side.runtime_gpus_per_node:
            mine.append(f"resources.stages.{p.stage}.workers = {p.engine.workers}: {where} runs that many "
                         f"engines of {p.engine.tensor_parallel_size} GPU(s) on runtime.gpus_per_node = "
                         f"{side.runtime_gpus_per_node}. Fix: lower the workers, or raise runtime.gpus_per_node")
        if p.trains:
            mine += _training_problems(side, p, whole, where)
        budget = _gpu_budget(side, p, limits)
        if p.gpu_gb is not None and budget is not None and p.gpu_gb > budget:
            mine.append(_memory_problem(side, p, where, budget))
        if p.host_gb is not None and p.host_gb > p.job.mem_gb:
            mine.append(f"{_key(p, 'mem_gb')} = {p.job.mem_gb:g}: {where} trains on CPUs, and its weights, gradients "
                        f"and AdamW state alone need about {p.host_gb:.1f} GB. Fix: give the stage GPUs (a GPU "
                        "resources preset such as resources=h100_lfm2) or more memory")
        for message in mine:
            first = same.setdefault(message.replace(f"step {p.name} ", "step * "), [message])
            if first[0] != message:
                first.append(p.name)
    for first, *others in same.values():
        found.append(first + (f" (the same for {len(others)} more: {', '.join(others)})" if others else ""))
    return found


def _key(p: StepPlan, name: str) -> str:
    return p.job.origin.get(name, f"resources.stages.{p.stage}.{name}")


def _own_job_problems(side: ClusterSide, p: StepPlan, limits: PartitionLimits) -> list[str]:
    """One job per step: a GPU partition needs the stage sized, and the job must fit a node and use
    the GPUs it holds."""
    found = []
    where = f"step {p.name} ({p.stage})"
    if limits.gpus_per_node > 0 and p.stage not in side.sized_stages:
        preset = side.resources_name
        found.append(f"resources.stages.{p.stage}: no entry in resources={preset}, so {where} would get "
                     f"resources.default ({p.job.gpus_per_node} GPU(s), {p.job.mem_gb:g} GB) on a GPU partition. "
                     f"Fix: add `{p.stage}:` with its GPUs, CPUs, memory and time to conf/resources/{preset}.yaml")
    try:
        check_request(p.name, p.stage, p.job, limits)
    except LaunchError as e:
        found.append(str(e))
    idle = (p.job.gpus_per_node - p.gpus_used) * p.job.nodes
    if idle > 0:
        key = _key(p, "gpus_per_node")
        if p.engine is not None:
            spread = (f" and spread its rows with resources.stages.{p.stage}.workers"
                      if STAGES[p.stage].sharded else "")
            other = f"raise {p.engine.key}" if p.engine.backend == "vllm" else "use engine=vllm (tensor parallel)"
            why = (f"its {p.engine.backend} engine uses {p.engine.tensor_parallel_size}. Fix: set {key}="
                   f"{p.engine.tensor_parallel_size}{spread}, or {other}")
        elif p.trains:
            why = "it trains as one process. Fix: set it to 1"
        else:
            why = f"the {p.stage} stage uses {p.gpus_used}. Fix: set {key}={p.gpus_used}"
        found.append(f"{key} = {p.job.gpus_per_node}: {where} holds {idle} GPU(s) it never uses: {why}")
    return found


def _training_problems(side: ClusterSide, p: StepPlan, whole: Request | None, where: str) -> list[str]:
    """A training step starts one process per GPU of its job, and one launcher per node."""
    found = []
    if whole is not None:
        gpus, nodes = side.runtime_gpus_per_node, side.runtime_nodes
        if whole.gpus_per_node > 0 and gpus != whole.gpus_per_node:  # a CPU job: processes as asked
            found.append(f"runtime.gpus_per_node = {gpus}: {where} trains as "
                         f"{gpus * nodes} process(es) ({p.strategy}) in a job of "
                         f"hydra.launcher.gpus_per_node = {whole.gpus_per_node} GPUs a node. "
                         f"Fix: runtime.gpus_per_node={whole.gpus_per_node} (runtime=cluster sets 8)")
    elif p.processes > 1 and p.job.tasks_per_node != 1:
        found.append(f"{_key(p, 'tasks_per_node')} = {p.job.tasks_per_node}: {where} runs one launcher task "
                     "per node, which starts a process per GPU. Fix: set it to 1")
    return found


def _memory_problem(side: ClusterSide, p: StepPlan, where: str, budget: float) -> str:
    need = f"needs about {p.gpu_gb:.1f} GB on each GPU, more than the {budget:.1f} GB"
    if p.trains:
        key = "train.distributed" if p.processes > 1 else _key(p, "gpus_per_node")
        value = side.distributed if p.processes > 1 else p.job.gpus_per_node
        return (f"{key} = {value}: {where} trains {p.strategy} over {p.processes} process(es) and {need} one "
                "offers for weights, gradients and AdamW state alone. Fix: more GPUs for the step, or "
                "train.distributed=fsdp (sharded) when it is ddp")
    if p.engine is not None and p.engine.backend != "vllm":
        return (f"engine.backend = {p.engine.backend}: {where} loads its model on one GPU and {need} one offers. "
                "Fix: engine=vllm (tensor parallel) with runtime=cluster, or a smaller model")
    if p.engine is not None:
        return (f"{p.engine.key} = {p.engine.tensor_parallel_size}: {where} {need} vLLM may use "
                f"(engine.gpu_memory_utilization of a GPU). Fix: raise {p.engine.key}")
    return (f"{_key(p, 'gpus_per_node')} = {p.job.gpus_per_node}: {where} {need} one offers. "
            "Fix: give the step more GPUs")


def check_plan(side: ClusterSide, plans: list[StepPlan], limits: PartitionLimits) -> None:
    """Raise LaunchError listing every problem of the plan, before any job is submitted."""
    found = problems(side, plans, limits)
    if found:
        raise LaunchError(f"{len(found)} problem(s) with this plan on {limits.name} ({limits.describe()}; "
                          f"from {limits.source}):\n  - " + "\n  - ".join(found))


def _time(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def rows(plans: list[StepPlan]) -> list[dict[str, Any]]:
    """The plan as table cells, one row a step."""
    out = []
    for p in plans:
        j = p.job
        cpus = j.cpus_per_task * j.tasks_per_node
        job = f"{j.nodes}x{j.gpus_per_node} GPU, {cpus} CPU, {j.mem_gb:g} GB, {_time(j.timeout_min)}"
        if p.trains and p.processes > 1:
            launch = f"{p.processes} processes, {p.strategy}"
        elif p.trains:
            launch = SINGLE
        elif p.gpus_used > 1:
            launch = f"1 process on {p.gpus_used} GPUs"
        else:
            launch = "1 process"
        engine = "-"
        if p.engine is not None:
            engine = f"{p.engine.backend} tp={p.engine.tensor_parallel_size}"
            engine += f" x {p.engine.workers} workers" if p.engine.workers > 1 else ""
        b = p.batch
        batch = f"{b.micro_batch} x {b.grad_accum} x {b.processes} = {b.global_batch}" if b else "-"
        gpu = f"{p.gpu_gb:.1f} GB" if p.gpu_gb is not None else "-"
        out.append({"step": p.name, "job": job, "env": p.env, "launch": launch, "engine": engine,
                    "batch": batch, "gpu mem": gpu})
    return out


def render(plans: list[StepPlan]) -> str:
    """The plan as an aligned text table (`plan=true`)."""
    table = rows(plans)
    if not table:
        return ""
    cols = list(table[0])
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols).rstrip() for r in table]
    return "\n".join(lines)
