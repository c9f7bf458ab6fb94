"""The cluster plan checked (and shown) where a run starts: `plan=true`, a Slurm job of Hydra's submitit
launcher before its first step, and a submitit sweep before Hydra submits it (`BeforeLaunch`)."""

from __future__ import annotations

import sys

from omegaconf import DictConfig


def check_cluster_plan(cfg: DictConfig, launcher: DictConfig | None, to_run: set[str] | None = None,
                       show: bool = False) -> None:
    """On Slurm: each step's job, environment, launch, engine and batch (printed with `show`), checked
    against the partition; exits 2 naming every problem when the plan cannot work. `to_run`: the
    steps that would run (None: all)."""
    from hala_exp.launch import LaunchError
    from hala_exp.launch.plan import check_plan, cluster_plan, on_slurm, pipeline_job, render
    from hala_exp.launch.queue import limits_for
    from hala_exp.recipes import build_graph
    from hala_exp.training.batch import BatchError

    if not on_slurm(cfg, launcher):
        return
    try:
        plans = cluster_plan(cfg, [s for s in build_graph(cfg) if to_run is None or s.name in to_run], launcher)
        limits = limits_for(cfg.cluster, submitting=False)  # the submission itself asks sinfo
        if show and plans:
            how = ("one job per step" if pipeline_job(launcher) is None
                   else "the whole pipeline in one job of hydra/launcher")
            print(f"\nCluster plan: cluster={cfg.cluster.name}, {how}; partition {limits.name} "
                  f"({limits.describe()}; from {limits.source})")
            print(render(plans))
        check_plan(cfg, plans, limits, launcher)
    except (LaunchError, BatchError) as e:
        print(f"hala-exp: cannot run on this cluster: {e}", file=sys.stderr)
        sys.exit(2)
