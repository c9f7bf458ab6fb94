"""The compiled run: every step with its key, inputs, config slice, environment, launch, resources and
the store's state of it, fixed once from the composed config (`hala_exp.plan.compiler`).

Everything after composition reads this instead of the config: the task and reach checks,
`plan=true`, Slurm submission, the runner, and, from `<run dir>/plan.json`, `hala-exp-status` and
`hala-exp-report`. It is immutable: a step's key slice cannot drift from the key computed from it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hala_exp.json_files import replace_text
from hala_exp.plan.frozen import FrozenDict, freeze, thaw
from hala_exp.recipes.graph import Ref, Step

if TYPE_CHECKING:  # the cluster's types load with a cluster plan only: a local start-up skips them
    from hala_exp.launch.plan import ClusterSide, StepPlan
    from hala_exp.launch.resources import Request
    from hala_exp.training.batch import BatchSplit

PLAN_FILE = "plan.json"
FORMAT = 1  # plan.json's layout; bump when a field changes meaning


@dataclass(frozen=True)
class StoreState:
    """What the store held for a step when the plan was compiled (the runner checks again before each step)."""

    status: str  # "reused" | "run"
    problem: str | None = None  # a damaged entry (`<file>: <what>`) or another process running it now
    broken: str | None = None  # the damaged file, when `problem` is one
    why: str | None = None  # for a step that runs: what differs from the closest entry (plan=true only)
    verify: bool = False  # a reused output a step that runs reads: its content is hashed first (store_verify=hash)

    @property
    def runs(self) -> bool:
        return self.status == "run"


@dataclass(frozen=True)
class PlannedStep(Step):
    """A graph step (`hala_exp.recipes.graph.Step`) with what compiling the run fixed about it."""

    key: str = ""
    environment: str | None = None  # its interpreter (`runtime.stages`), None: the current one
    environment_name: str = "current"  # as the plan shows it
    launch: tuple[str, ...] | None = None  # `accelerate launch` argv where it trains on several processes
    workers: int = 1  # processes over its shards (a job array on Slurm)
    parallelism: int | None = None  # at most this many of those at once (Slurm)
    batch: BatchSplit | None = None  # a training step's global batch split
    job: StepPlan | None = None  # on Slurm: its job (own, or the pipeline's), launch, engine and memory
    state: StoreState = field(default_factory=lambda: StoreState("run"))

    @property
    def runs(self) -> bool:
        return self.state.runs


@dataclass(frozen=True)
class Plan:
    name: str
    recipe: str
    store: str
    store_verify: str
    steps: tuple[PlannedStep, ...]
    verbose: bool = False
    gpus_per_node: int = 0  # runtime.gpus_per_node: local engine workers' GPU groups
    tracking: FrozenDict | None = None  # `hala_exp.tracking.context.tracking_context`, None: no W&B
    cluster: ClusterSide | None = None
    summary: FrozenDict = field(default_factory=FrozenDict)  # what the end-of-run tables name (model, systems)

    @property
    def keys(self) -> dict[str, str]:
        return {s.name: s.key for s in self.steps}

    def step(self, name: str) -> PlannedStep:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """plan.json: the whole Plan as JSON; `from_json` reads it back equal."""
        return {"format": FORMAT, **thaw(asdict(replace(self, steps=()))),
                "steps": [_step_json(s) for s in self.steps]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        from hala_exp.launch.plan import ClusterSide

        if data.get("format") != FORMAT:
            raise ValueError(f"plan.json format {data.get('format')!r}, this version reads {FORMAT}")
        c = data.get("cluster")
        cluster = None if c is None else ClusterSide(**{
            **c, "settings": freeze(c["settings"]), "sized_stages": tuple(c["sized_stages"]),
            "pipeline_job": _request(c["pipeline_job"])})
        return cls(data["name"], data["recipe"], data["store"], data["store_verify"],
                   tuple(_step_from(s) for s in data["steps"]), data["verbose"], data["gpus_per_node"],
                   freeze(data["tracking"]), cluster, freeze(data["summary"]))

    def write(self, run_dir: Path) -> Path:
        """plan.json, whole or not at all, with the value of any secret-named environment variable
        (a token a config interpolated) replaced by `<redacted>`."""
        from hala_exp.tracking.secrets import scrub_text

        path = run_dir / PLAN_FILE
        replace_text(path, scrub_text(json.dumps(self.to_json(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"))
        return path


def load_plan(run_dir: Path) -> Plan | None:
    """The Plan a run was compiled to (`<run dir>/plan.json`); None for a run written before plans were
    or by a version whose plan.json has another `format` (its other files still describe it)."""
    path = run_dir / PLAN_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return Plan.from_json(data) if data.get("format") == FORMAT else None


def _step_json(s: PlannedStep) -> dict[str, Any]:
    out = thaw(asdict(s))
    out["inputs"] = {k: ({"step": v.step, "sub": v.sub} if isinstance(v, Ref) else v) for k, v in s.inputs.items()}
    return out


def _request(d: dict[str, Any] | None) -> Request | None:
    from hala_exp.launch.resources import Request

    return None if d is None else Request(**d)


def _step_from(d: dict[str, Any]) -> PlannedStep:
    from hala_exp.launch.plan import Engine, StepPlan
    from hala_exp.training.batch import BatchSplit

    job = d["job"]
    if job is not None:
        job = StepPlan(**{**job, "job": _request(job["job"]),
                          "engine": Engine(**job["engine"]) if job["engine"] else None,
                          "batch": BatchSplit(**job["batch"]) if job["batch"] else None})
    inputs = {k: (Ref(**v) if isinstance(v, dict) else v) for k, v in d["inputs"].items()}
    return PlannedStep(
        d["name"], d["stage"], d["fn"], freeze(d["config"]), freeze(inputs), d["partial"], freeze(d["messages"]),
        freeze(d["options"]), d["writes"], key=d["key"], environment=d["environment"],
        environment_name=d["environment_name"], launch=tuple(d["launch"]) if d["launch"] else None,
        workers=d["workers"], parallelism=d["parallelism"],
        batch=BatchSplit(**d["batch"]) if d["batch"] else None, job=job, state=StoreState(**d["state"]))
