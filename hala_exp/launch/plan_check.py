"""The cluster plan checked (and shown) where a run starts: `plan=true`, a Slurm job of Hydra's submitit
launcher before its first step, and a submitit sweep before Hydra submits it (`BeforeLaunch`)."""

from __future__ import annotations

import sys

from hala_exp.plan.compiled import Plan


def check_cluster_plan(plan: Plan, show: bool = False, only_to_run: bool = False) -> None:
    """On Slurm: each step's job, environment, launch, engine and batch (printed with `show`), checked
    against the partition; exits 2 naming every problem when the plan cannot work. `only_to_run`: the
    steps that would run (else all)."""
    from hala_exp.launch import LaunchError
    from hala_exp.launch.plan import check_plan, render
    from hala_exp.launch.queue import limits_for

    side = plan.cluster
    if side is None:
        return
    try:
        plans = [s.job for s in plan.steps if s.job is not None and (s.runs or not only_to_run)]
        limits = limits_for(side.settings, submitting=False)  # the submission itself asks sinfo
        if show and plans:
            how = "the whole pipeline in one job of hydra/launcher" if side.one_job else "one job per step"
            print(f"\nCluster plan: cluster={side.settings.name}, {how}; partition {limits.name} "
                  f"({limits.describe()}; from {limits.source})")
            print(render(plans))
        check_plan(side, plans, limits)
    except LaunchError as e:
        print(f"hala-exp: cannot run on this cluster: {e}", file=sys.stderr)
        sys.exit(2)
