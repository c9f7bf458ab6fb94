"""Run a step in the interpreter its stage is configured for.

vLLM and llm-compressor pin incompatible torch / transformers / compressed-tensors, so a stage may
live in an environment of its own (`runtime.stages`). Such a step runs as
`<python> -m hala_exp.step_process SPEC.json` (or under `accelerate launch` for multi-GPU training); its
output goes to a log file (and the console too with `echo`), its progress lines to the caller's
console, and the step only counts as done when the process exited 0 *and* its completion record is
in the store. SIGTERM or SIGINT to this process is passed on to the child, which stops cleanly;
this one waits for it, then stops too (`hala_exp.stopping`).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp import progress, stopping
from hala_exp.fence import LEASE, LeaseLost
from hala_exp.pipeline import disk_space
from hala_exp.pipeline.execute import StepFailed, execute
from hala_exp.pipeline.lease import describe, held
from hala_exp.pipeline.store import Store
from hala_exp.training.launch import SPEC

log = logging.getLogger("hala_exp")
TAIL_LINES = 40


def _stream(cmd: list[str], log_file: Path, env: dict[str, str], echo: bool = True,
            on_progress: progress.Listener | None = None) -> tuple[int, list[str]]:
    """Run `cmd`, append each output line to `log_file` (and stderr with `echo`), hand its progress
    lines to `on_progress`; return (exit status, last lines)."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if on_progress is not None:
        env = {**env, progress.ENV: "1"}
    # append: the caller may have started this step's log, and a requeued job keeps the earlier attempt's
    with open(log_file, "a", encoding="utf-8") as f, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1,
            errors="replace") as proc, stopping.forwarding(proc):  # a stop signal goes on to it
        assert proc.stdout is not None
        for line in proc.stdout:
            text, snap = progress.parse_line(line)
            if snap is not None:
                if on_progress is not None:
                    on_progress(snap)
                if not text.strip():
                    continue
                line = text + "\n"
            f.write(line)
            f.flush()
            if echo:
                sys.stderr.write(line)
            tail.append(line.rstrip("\n"))
        return proc.wait(), list(tail)


def run_elsewhere(spec: dict[str, Any], command: list[str], work_dir: Path, echo: bool = True,
                  on_progress: progress.Listener | None = None) -> dict[str, Any]:
    """Run `command` on the spec (written here; `{spec}` in an argument is its path, else it is appended)
    and return the step's completion record.

    Raises StepFailed with the log's tail when the process fails or leaves no completion record.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    spec_file = work_dir / f"{spec['name']}.spec.json"
    spec_file.write_text(json.dumps(spec, ensure_ascii=False, indent=2), encoding="utf-8")
    log_file = work_dir / f"{spec['name']}.log"
    if any(SPEC in a for a in command):
        cmd = [a.replace(SPEC, str(spec_file)) for a in command]  # a shell script quotes it itself
    else:
        cmd = [*command, str(spec_file)]
    log.info("run    %-28s in %s (log: %s)", spec["name"], command[0], log_file)
    code, tail = _stream(cmd, log_file, dict(os.environ), echo, on_progress)
    if stopping.requested() is not None:
        log.warning("step %s: its process stopped with status %d", spec["name"], code)
        stopping.check()  # raises Stopped: the child was signalled and has ended
    record = Store(spec["store"]).record(spec["name"], spec["key"])
    full = disk_space.from_log(tail) if code != 0 else None
    if full is not None:  # said by the step process, before its work directory went
        raise full
    if code != 0 or record is None:
        problem = f"exited with status {code}" if code != 0 else "exited 0 but wrote no completion record"
        raise StepFailed(f"step {spec['name']} {problem}: {' '.join(cmd)}\n"
                         f"--- last {len(tail)} lines of {log_file} ---\n" + "\n".join(tail))
    return record


def run_step(spec: dict[str, Any], python: str | None, work_dir: Path,
             launch: list[str] | None = None, echo: bool = True,
             on_progress: progress.Listener | None = None, workers: int = 1,
             gpus: int = 0) -> tuple[dict[str, Any], bool]:
    """(record, ran): in this process when `python` is None and there is no `launch` command,
    in `python` as a subprocess, or under `launch` (an `accelerate launch` argv with `{spec}`):
    then every rank writes into one work dir made here, which rank 0 commits. A subprocess's output
    goes to `<work_dir>/<step>.log`, also to stderr with `echo`; its progress to `on_progress`.
    With `workers` > 1 (a generation step) that many worker processes compute its shards first,
    over `gpus` GPUs split between them, and the step then gathers them (`fanout`)."""
    store = Store(spec["store"])
    existing, _ = store.reuse(spec["name"], spec["key"])  # a broken entry is moved aside: run again
    if existing is not None:
        return existing, False

    def waiting(holder: dict[str, Any]) -> None:
        log.info("wait   %-28s running in %s: its output will be reused", spec["name"], describe(holder))

    # One runner per key: another process on this key is waited for, then its output reused. A
    # runner that loses the lease while it runs (paused past its stale time) stops at its next write
    # (`fence`) and goes round again: it waits for the run that took over and reuses its output.
    while True:
        with held(store.root, spec["name"], spec["key"], lambda: store.record(spec["name"], spec["key"]) is not None,
                  waiting) as lease:
            existing = store.record(spec["name"], spec["key"])
            if lease is None or existing is not None:
                return existing or _record_after_wait(store, spec), False
            try:
                return _run_held({**spec, LEASE: lease.token()}, python, work_dir, launch, echo, on_progress,
                                 workers, gpus)
            except (Exception, LeaseLost) as e:
                holder = lease.taken_by()
                if holder is None:  # still ours: the step failed for its own reason
                    raise
                log.warning("lease  %-28s taken over by %s while this run was paused; stopped without "
                            "writing more (%s), waiting for that run's output", spec["name"],
                            describe(holder) if holder else "a run that has finished", type(e).__name__)


def _run_held(spec: dict[str, Any], python: str | None, work_dir: Path, launch: list[str] | None, echo: bool,
              on_progress: progress.Listener | None, workers: int, gpus: int) -> tuple[dict[str, Any], bool]:
    """The step run under its lease (in `spec[LEASE]`), as `run_step` says."""
    store = Store(spec["store"])
    if workers > 1:
        from hala_exp.pipeline.fanout import gather_spec, run_local

        run_local(spec, python, work_dir, workers, gpus)
        spec = gather_spec(spec, workers)
    if launch is None:
        if python is None:
            return execute(spec)
        return run_elsewhere(spec, [python, "-m", "hala_exp.step_process"], work_dir, echo, on_progress), True
    work = store.begin(spec["name"], spec["key"])
    try:
        return run_elsewhere({**spec, "work_dir": str(work)}, launch, work_dir, echo, on_progress), True
    finally:
        store.abort(work)  # gone already when committed (renamed into place)


def _record_after_wait(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    record = store.record(spec["name"], spec["key"])
    if record is None:  # `done` said complete: a record cannot vanish unless the store is edited by hand
        raise StepFailed(f"step {spec['name']}: the process it waited for committed it, but the output is gone")
    return record


def training_launch(cfg: DictConfig, stage: str, python: str | None, gpus_per_node: int | None = None,
                    nodes: int | None = None) -> list[str] | None:
    """The `accelerate launch` argv for a training stage (its declaration's `trains`) on more than
    one GPU, else None.

    GPUs and nodes are `runtime.*` locally; a Slurm job passes what it was allocated. Across nodes
    the argv is one node's launcher, completed on each node (`hala_exp.launch.nodes`).
    """
    from omegaconf import OmegaConf

    from hala_exp.stages import STAGES
    from hala_exp.training.batch import processes
    from hala_exp.training.launch import accelerate_command, choose_strategy

    rt = cfg.runtime
    gpus = rt.gpus_per_node if gpus_per_node is None else gpus_per_node
    nodes = rt.nodes if nodes is None else nodes
    trains = STAGES[stage].trains if stage in STAGES else None
    if trains is None or processes(gpus, nodes) == 1:
        return None
    strategy = choose_strategy(cfg.train.distributed, cfg[trains.model].params_b, cfg.train.ddp_max_params_b)
    return accelerate_command(python or sys.executable, strategy, gpus, nodes,
                              rt.main_process_port, "bf16" if OmegaConf.select(cfg, trains.bf16) else "no")
