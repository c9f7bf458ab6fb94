"""Run the stage graph: reuse complete outputs, run the rest, write `results.json`.

An output is reused when its record reads and every file it lists has its size; with
`store_verify=hash` also its content when a step about to run reads it. A broken one is moved to
`<store>/.broken/` (said on the console, in the log and in steps.json) and its step runs again.

`results.json` (in the run directory) is a contract other tools read:
{"stages": {NAME: {"status": "ran"|"reused", "key", "dir", "seconds"}}, "metrics": {FLAT_NAME: NUMBER}}
with metrics named `<step>.<metric>`, e.g. `evaluate.student_merged.arabic_mmlu_sample.acc`.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from hala_exp import progress, stopping
from hala_exp.console.capture import can_capture, redirect_output
from hala_exp.console.failure import StepFailure, error_text, input_error
from hala_exp.console.headline import headline
from hala_exp.console.live import Console, open_console
from hala_exp.json_files import write_json
from hala_exp.pipeline import disk_space
from hala_exp.pipeline.dispatch import run_step
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.results import add_result
from hala_exp.pipeline.steps_file import StepsFile
from hala_exp.pipeline.store import Store
from hala_exp.plan.compiled import Plan, PlannedStep
from hala_exp.plan.frozen import thaw

log = logging.getLogger("hala_exp")


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """For each step: name, key, whether it would run or be reused and, for one that runs, why (what
    differs from the closest output of that step in the store, when the plan was compiled with
    `explain`); a training step's batch split where this config runs it. Imports no ML library."""
    store = Store(plan.store)
    rows = []
    for s in plan.steps:
        st = s.state
        status = "reused" if not st.runs else (f"run (broken: {st.broken})" if st.broken else "run")
        row: dict[str, Any] = {"name": s.name, "key": s.key, "dir": str(store.path(s.name, s.key)),
                               "status": status, "writes": s.writes}
        if st.problem is not None:
            row["problem"] = st.problem
        if st.why is not None:
            row["why"] = st.why
        if s.batch is not None:
            row["batch"] = s.batch
        rows.append(row)
    return rows


def run_pipeline(plan: Plan, run_dir: Path) -> dict[str, Any]:
    """Run every step not in the store; results.json after each one. A failing step raises
    StepFailure (its error, log and the steps that never ran) once its state is recorded.

    Quiet (the default, `verbose=false`): the console gets one line per step and a live bar, and
    everything else written while a step runs goes to `<run_dir>/steps/<step>.log` (between steps,
    to `<run_dir>/pipeline.log`). `verbose=true`: all output on the console, as the libraries write it.
    SIGTERM and SIGINT stop the running step cleanly and raise `stopping.Stopped`.
    """
    steps = plan.steps
    keys = plan.keys
    store = Store(plan.store)
    store.sweep_stale()
    sizes = [s.writes for s in steps if s.writes and s.runs]
    warning = disk_space.space_warning(plan.store, sizes)  # before any step: the run may not fit
    if warning:
        log.warning("%s", warning)
    tracking = thaw(plan.tracking)  # None with logger=none; W&B runs open only for executed steps
    quiet = not plan.verbose and can_capture()
    run = _Run(plan, run_dir, store, StepsFile(run_dir, steps, keys),
               open_console(len(steps), max(len(s.name) for s in steps), verbose=not quiet), quiet,
               {s.name for s in steps if s.state.verify})
    between = run_dir / "pipeline.log"
    try:
        with redirect_output(between) if quiet else nullcontext(), stopping.handling(""):
            for step in steps:
                run.step(step, make_spec(step, keys, store, tracking))
    finally:
        run.console.close()
        if between.is_file() and between.stat().st_size == 0:
            between.unlink()  # nothing was written between steps
    return run.results


class _Run:
    """The steps of one run so far: results.json, steps.json and the console, kept in step."""

    def __init__(self, plan: Plan, run_dir: Path, store: Store, board: StepsFile, console: Console,
                 quiet: bool, hash_first: set[str] = frozenset()):
        self.plan, self.run_dir, self.store, self.board, self.console, self.quiet = (
            plan, run_dir, store, board, console, quiet)
        self.hash_first = hash_first  # reused outputs a running step reads: content checked too
        self.results: dict[str, Any] = {"stages": {}, "metrics": {}}

    def _log(self, step: PlannedStep) -> Path:
        return self.run_dir / "steps" / f"{step.name}.log"

    def _log_entry(self, step: PlannedStep) -> dict[str, str]:
        """steps.json's `log` (relative to the run dir) when the step has one: quiet runs, subprocesses."""
        f = self._log(step)
        return {"log": str(f.relative_to(self.run_dir))} if f.is_file() else {}

    def _done(self, step: PlannedStep, key: str, record: dict[str, Any], ran: bool, seconds: float,
              shown_running: bool) -> None:
        line = headline(step.stage, record.get("metrics", {}))
        add_result(self.results, step.name, key, self.store, record, ran, seconds)
        status = "ran" if ran else "reused"
        self.board.update(step.name, status=status, seconds=round(seconds, 3) if ran else 0.0, headline=line,
                          **self._log_entry(step))
        if shown_running:
            self.console.finished(step.name, status, seconds, line)
        else:
            self.console.reused(step.name, line)
        write_json(self.run_dir / "results.json", self.results, atomic=True)  # survives a later failure

    def _reuse(self, step: PlannedStep, key: str) -> dict[str, Any] | None:
        """The step's sound record, or None: then it runs (a broken entry moved aside and said so)."""
        hashes = step.name in self.hash_first
        started = time.time()
        existing, aside = self.store.reuse(step.name, key, hashes=hashes)
        if existing is not None and hashes:
            files = existing.get("files", {})
            log.info("verify %-28s %d files, %d bytes hashed in %.2f s", step.name, len(files),
                     sum(f["size"] for f in files.values()), time.time() - started)
        if aside is not None:
            where = f"moved to {aside.moved_to}" if aside.moved_to else "moved aside by another process"
            self.console.broken(step.name, f"{aside.problem.file}: {aside.problem.detail} ({where}); running it again")
            self.board.update(step.name, broken=str(aside.problem),
                              **({"moved_to": str(aside.moved_to)} if aside.moved_to else {}))
        return existing

    def _launch(self, step: PlannedStep) -> list[str] | None:
        """The step's multi-GPU launcher; across nodes (a job of Hydra's submitit launcher) node 0's,
        which the other nodes join (`hala_exp.launch.nodes`)."""
        from hala_exp.launch import nodes

        launch = list(step.launch) if step.launch else None
        alloc = nodes.plan(launch)
        if alloc is None:
            return launch
        return nodes.leader_command(launch, alloc, self.run_dir / "steps", step.name,
                                    step.environment or sys.executable)

    def step(self, step: PlannedStep, spec: dict[str, Any]) -> None:
        """Reuse the step's output or run it (its output into its log when quiet)."""
        existing = self._reuse(step, spec["key"])
        if existing is not None:
            self._done(step, spec["key"], existing, False, 0.0, shown_running=False)
            return
        log_file = self._log(step)
        self.board.update(step.name, status="running")
        self.console.started(step.name)
        started = time.time()
        python = step.environment
        try:
            with redirect_output(log_file) if self.quiet else nullcontext(), \
                    progress.listening(self.console.progress), stopping.handling(step.name):
                log.info("step   %-28s %s", step.name, spec["key"])
                try:
                    record, ran = run_step(spec, python, self.run_dir / "steps", self._launch(step),
                                           echo=not self.quiet, on_progress=self.console.progress,
                                           workers=step.workers, gpus=self.plan.gpus_per_node)
                except Exception:
                    traceback.print_exc()  # the whole traceback into the step's log (verbose: the console)
                    raise
        except Exception as e:
            seconds = time.time() - started
            error = error_text(e)
            self.console.finished(step.name, "failed", seconds, (input_error(error) or error).splitlines()[0][:120])
            self.board.update(step.name, status="failed", seconds=round(seconds, 3), error=error,
                              **self._log_entry(step))
            raise StepFailure(step.name, error, log_file if log_file.is_file() else None, seconds,
                              self.board.not_run()) from e
        except BaseException as e:  # a stop signal, KeyboardInterrupt, SystemExit: stop as asked, and say where
            how = e.signal_name if isinstance(e, stopping.Stopped) else type(e).__name__
            self.console.finished(step.name, "interrupted", time.time() - started, f"stopped by {how}")
            self.board.update(step.name, status="interrupted", error=f"stopped by {how}", **self._log_entry(step))
            self.board.not_run()
            raise
        # not ran: another process committed the same key meanwhile
        self._done(step, spec["key"], record, ran, time.time() - started, shown_running=True)
