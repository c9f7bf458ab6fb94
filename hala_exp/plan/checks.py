"""Checks that read the compiled Plan before the first step: every lighteval task name a pending
evaluation uses, and every hub model and dataset the run reads."""

from __future__ import annotations

from hala_exp.plan.compiled import Plan
from hala_exp.plan.reach import HubRef, check_refs

EVALUATION = "evaluate_lighteval"


def check_tasks(plan: Plan) -> None:
    """The task names of the run's pending lighteval evaluations, in the interpreter they run in (see
    `hala_exp.evaluation.task_check`); nothing is imported when none is pending or the run only plans."""
    from hala_exp.evaluation.suites import custom_sources
    from hala_exp.evaluation.task_check import check_task_names

    pending = [s for s in plan.steps if s.stage == EVALUATION and s.runs]
    checked: set[tuple] = set()
    for s in pending:
        lcfg = s.config["eval"]["lighteval"]
        request = (tuple(lcfg["tasks"]), tuple(map(tuple, custom_sources(lcfg))), s.environment)
        if lcfg["tasks"] and request not in checked:
            checked.add(request)
            check_task_names(list(lcfg["tasks"]), [list(c) for c in custom_sources(lcfg)], s.environment)


def run_refs(plan: Plan) -> list[HubRef]:
    """The hub repos (and local paths) the run's steps read: model inputs and hub data sources."""
    refs: dict[tuple[str, str | None, str], HubRef] = {}
    for step in plan.steps:
        for name, value in step.inputs.items():
            if isinstance(value, str):
                repo, _, rev = value.partition("@")
                refs.setdefault((repo, rev or None, "model"), HubRef(f"{step.name} input {name!r}", repo,
                                                                     rev or None, "model"))
        if step.stage == "snapshot" and step.config["source"]["format"] == "hub":
            src = step.config["source"]
            refs.setdefault((src["path"], src.get("revision"), "dataset"),
                            HubRef(step.messages["key"], src["path"], src.get("revision"), "dataset"))
    return list(refs.values())


def check_reachable(plan: Plan) -> None:
    """ConfigError naming the first model or dataset the run cannot read, before any step starts."""
    check_refs(run_refs(plan))
