"""`hala-exp`: compose the experiment, validate it, then plan or run the pipeline.

With no arguments the tiny preset runs end to end on CPU. `plan=true` prints which stages would
run, which are reused and which must be redone because their stored output is damaged (naming
the file), without importing torch; on Slurm also each step's job, environment, launch, engine
and batch, refused before submission when it cannot work (`hala_exp.launch.plan`). With
`cluster.submit=slurm` (e.g. `cluster=h100`)
each step that must run becomes a Slurm job and the command returns once they are queued;
`hala-exp-status RUN_DIR` follows them. A local run prints a line per step and the result tables;
the libraries' output goes to the steps' logs unless `verbose=true` (`-v`).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from hala_exp.config import CONF_DIR, ConfigError, compose_cache, validate
from hala_exp.config.schema import register
from hala_exp.json_files import write_json
from hala_exp.launch import LaunchError
from hala_exp.pipeline.provenance import git_state, host, package_versions

if TYPE_CHECKING:  # the Plan's modules load after validation: `--cfg job` never pays for them
    from hala_exp.plan.compiled import Plan

log = logging.getLogger("hala_exp")


def _write_run_record(cfg: DictConfig, run_dir: Path) -> None:
    hc = HydraConfig.get()
    write_json(run_dir / "run.json", {
        "name": cfg.name,
        "overrides": list(hc.overrides.task),
        "command": sys.argv,
        "git": git_state(),
        "versions": package_versions(),
        "seeds": {"seed": cfg.seed, "data": cfg.data.seed, "train": cfg.train.seed,
                  "engine": cfg.engine.seed, "eval_sample": cfg.eval.translation.seed},
        "host": host(),
        "store": str(Path(cfg.store).resolve()),
    })
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")


def _print_plan(plan: Plan) -> None:
    from hala_exp.launch.plan_check import check_cluster_plan
    from hala_exp.pipeline.disk_space import space_warning
    from hala_exp.pipeline.runner import plan_rows

    rows = plan_rows(plan)
    width = max(len(r["name"]) for r in rows)
    status = max(len(r["status"]) for r in rows)
    for r in rows:
        print(f"{r['status']:>{status}}  {r['name']:<{width}}  {r['key']}")
        if "batch" in r:
            print(f"        batch {r['batch'].describe()}")
        if "problem" in r:
            print(f"        {r['problem']}")
        if "why" in r:
            print(f"        why: {r['why']}")
    n_run = sum(r["status"].startswith("run") for r in rows)
    print(f"{n_run} to run, {len(rows) - n_run} reused")
    warning = space_warning(plan.store, [r["writes"] for r in rows if r["writes"] and r["status"].startswith("run")])
    if warning:
        print(f"warning: {warning}")
    check_cluster_plan(plan, show=True, only_to_run=True)


def _in_submitit_job(plan: Plan) -> bool:
    """True inside a job of hydra/launcher=slurm_h100: the job is the allocation, stages run here."""
    return plan.cluster is not None and plan.cluster.one_job


def _nodes_of_job(plan: Plan):
    """This task's place in a multi-node job of Hydra's submitit launcher (`runtime.nodes` > 1), else None."""
    if not _in_submitit_job(plan) or plan.cluster.runtime_nodes <= 1:
        return None
    from hala_exp.launch.nodes import allocation

    return allocation()


def _submit(plan: Plan, run_dir: Path) -> None:
    from hala_exp.launch import LaunchError
    from hala_exp.launch.submit import print_jobs, submit_run

    try:
        jobs = submit_run(plan, run_dir)
    except LaunchError as e:
        print(f"hala-exp: cannot submit: {e}", file=sys.stderr)
        sys.exit(2)
    print_jobs(jobs, run_dir)


def _plot_heldout(metrics: dict[str, float], run_dir: Path) -> None:
    """heldout.png beside results.json when the run scored held-out text (matplotlib only then)."""
    from hala_exp.results_tables import heldout_rows

    rows = heldout_rows(metrics)
    if rows:
        from hala_exp.evaluation.heldout_plot import plot_heldout

        png = plot_heldout(rows, run_dir / "heldout.png")
        if png:
            print(f"Held-out plot: {png}")


def _check_tasks_quietly(plan: Plan) -> None:
    """The task-name check imports lighteval (and so nltk and the hub client), which talk: their
    output goes to `<run dir>/checks.log`, as a step's goes to its log, unless `verbose`."""
    from contextlib import nullcontext

    from hala_exp.console.capture import can_capture, redirect_output
    from hala_exp.plan.checks import check_tasks

    log = Path(HydraConfig.get().runtime.output_dir) / "checks.log"
    quiet = not plan.verbose and can_capture()
    try:
        with redirect_output(log) if quiet else nullcontext():
            check_tasks(plan)  # imports lighteval, and only when this run would evaluate
    finally:
        if log.is_file() and log.stat().st_size == 0:
            log.unlink()


def app(cfg: DictConfig) -> None:
    from hala_exp.plan.compiler import compile_plan

    try:
        validate(cfg, batches=False)  # compiling checks each training step's batch split
        # the config is read here for the last time: everything below reads the Plan
        plan = compile_plan(cfg, HydraConfig.get().launcher, explain=bool(cfg.plan), tracking=not cfg.plan)
        if not cfg.plan:
            from hala_exp.plan.checks import check_reachable

            _check_tasks_quietly(plan)
            check_reachable(plan)  # every hub model and dataset, before the first step
    except ConfigError as e:
        print(f"hala-exp: config error: {e}", file=sys.stderr)
        sys.exit(2)
    except LaunchError as e:  # a step's job cannot be sized from the resources preset
        print(f"hala-exp: cannot run on this cluster: {e}", file=sys.stderr)
        sys.exit(2)
    if cfg.plan:
        _print_plan(plan)
        gc.enable()  # `main` turned it off for start-up; the next point of a sweep composes with it on
        return
    gc.enable()  # on again before the stages run
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    alloc = _nodes_of_job(plan)
    if alloc is not None and alloc.node_rank > 0:  # node 0 runs the pipeline; this node joins its training
        from hala_exp.launch.nodes import follow

        print(f"node {alloc.node_rank} of {alloc.nodes}: {follow(alloc, run_dir / 'steps')} training launches joined")
        return
    if _in_submitit_job(plan):  # Hydra submitted this job before hala-exp saw the config: stop before any step
        # (sinfo's limits where it answers in the job, else the declared ones); a refusal still
        # releases the other nodes of the job, which wait for this one's training launches
        from hala_exp.launch.nodes import finish
        from hala_exp.launch.plan_check import check_cluster_plan

        try:
            check_cluster_plan(plan)
        except BaseException:
            if alloc is not None:
                finish(run_dir / "steps", alloc)
            raise
    _write_run_record(cfg, run_dir)
    plan.write(run_dir)  # what hala-exp-status and hala-exp-report read of the run
    if plan.cluster is not None and plan.cluster.submit == "slurm" and not plan.cluster.one_job:
        _submit(plan, run_dir)
        return
    from hala_exp.console.failure import StepFailure, failure_report, stopped_report
    from hala_exp.launch.nodes import leading
    from hala_exp.pipeline.runner import run_pipeline
    from hala_exp.plan.frozen import thaw
    from hala_exp.results_tables import summary
    from hala_exp.stopping import Stopped

    try:
        with leading(run_dir / "steps", alloc):
            results = run_pipeline(plan, run_dir)
    except StepFailure as e:
        print(failure_report(e), file=sys.stderr)
        print(f"Report: hala-exp-report {run_dir}", file=sys.stderr)
        sys.exit(1)
    except Stopped as e:
        print(stopped_report(e, run_dir), file=sys.stderr)
        sys.exit(e.exit_code)
    ran = [n for n, s in results["stages"].items() if s["status"] == "ran"]
    tables = summary(results["metrics"], model_id=plan.summary.model_id, systems=thaw(plan.summary.systems))
    if tables:
        print(f"\n{tables}")
    print(f"\n{len(ran)} stages ran, {len(results['stages']) - len(ran)} reused.")
    print(f"Results: {run_dir / 'results.json'}")
    _plot_heldout(results["metrics"], run_dir)
    print(f"Report: hala-exp-report {run_dir}")
    tracking = plan.tracking
    tracked = [n for n in ran if results["stages"][n].get("wandb_run_id")]  # snapshots open none
    if tracking and tracking["mode"] == "offline" and tracked:
        print(f"W&B: {len(tracked)} offline runs in {tracking['dir']}/wandb (group {tracking['group']}); "
              f"upload with: wandb sync {tracking['dir']}/wandb/offline-run-*")


LISTS_GROUPS = ("--help", "-h", "--hydra-help", "--info", "-i")  # Hydra's flags that print the config groups


def main() -> None:
    # Start-up allocates the composed config's many small objects; collecting them while they are
    # still in use costs tens of milliseconds a run. The pipeline turns collection back on.
    gc.disable()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # `-v` is short for the override `verbose=true` (Hydra's own parser has no such flag)
    sys.argv = [("verbose=true" if a in ("-v", "--verbose") else a) for a in sys.argv]
    # Hydra 1.3.3 warns for every `_target_` it instantiates without an execution whitelist, and
    # instantiates `hydra.callbacks` without one; this callback (conf/config.yaml) is our own code.
    warnings.filterwarnings("ignore", message=r"hydra\.utils\.instantiate\(\) resolved "
                            r"_target_='hala_exp\.config\.checks\.before_launch\.BeforeLaunch'")
    # the sweep and search groups only where a command may use them (or Hydra lists the groups: --help)
    register(sweeps=any("sweep" in a or "search" in a or a in LISTS_GROUPS for a in sys.argv[1:]))
    compose_cache.install()  # a composition seen before is read back, not redone
    try:
        hydra.main(config_path=str(CONF_DIR), config_name="config")(app)()
    finally:
        gc.enable()


if __name__ == "__main__":
    main()
