"""`hala-exp-status RUN_DIR`: where each step of a Slurm run stands, and why a stopped one stopped.

Reads `jobs.json`, asks squeue / sacct, names each step that failed or was cancelled with its cause
(how its job ended: cancelled by whom, time limit, memory, node failure, exit code), the tail of its
log without progress bars, and what to change; reports the steps cancelled or never run because of
it (and cancels any still pending on it); prints the command that resumes the run; and once every
step is complete writes the run's `results.json` from the store's records.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hala_exp.json_files import tail_lines, write_json
from hala_exp.launch import JOBS_FILE
from hala_exp.launch.causes import cause_and_fix
from hala_exp.launch.queue import LIVE, cancel, job_states
from hala_exp.launch.resume import resume_command
from hala_exp.pipeline.results import add_result
from hala_exp.pipeline.store import Store
from hala_exp.plan.compiled import load_plan
from hala_exp.shards import PLAN, done_shards, read_plan
from hala_exp.stages import STAGES


def shard_progress(partial: Path) -> dict[str, Any]:
    """`shards` "done/total" of a generation step's pass (and `rows_per_s` since its first shard
    began, from file times: cheap), or nothing before its first worker has sized the pass."""
    plan = read_plan(partial)
    if not plan:
        return {}
    done = done_shards(partial)
    out: dict[str, Any] = {"shards": f"{len(done)}/{plan['shards']}"}
    if done:
        rows = sum(min(plan["shard_rows"], plan["rows"] - i * plan["shard_rows"]) for i in done)
        span = max((partial / f"shard-{i:05d}.jsonl").stat().st_mtime for i in done) - \
            (partial / PLAN).stat().st_mtime
        if span > 0:
            out["rows_per_s"] = round(rows / span, 2)
    return out


def worker_progress(partial: Path, workers: int) -> dict[str, dict[str, Any]]:
    """Per worker of a fanned-out step: its `shards` "done/total" and, once it has committed one,
    `rows_per_s` over the compute time its shards record (model loading and waits left out)."""
    plan = read_plan(partial)
    if not plan or workers < 2:
        return {}
    done = set(done_shards(partial))
    out: dict[str, dict[str, Any]] = {}
    for w in range(workers):
        mine = range(w, plan["shards"], workers)
        finished = [i for i in mine if i in done]
        row: dict[str, Any] = {"shards": f"{len(finished)}/{len(mine)}"}
        rows = seconds = 0.0
        for i in finished:
            try:
                seconds += float(json.loads((partial / f"shard-{i:05d}.json").read_text())["seconds"])
            except (OSError, ValueError, KeyError):
                continue
            rows += min(plan["shard_rows"], plan["rows"] - i * plan["shard_rows"])
        if seconds > 0:
            row["rows_per_s"] = round(rows / seconds, 2)
        out[str(w)] = row
    return out


def _stopped_workers(entry: dict[str, Any], stage: str) -> dict[str, str]:
    """{worker index: how its array task ended} for each task of a fanned-out step that did not complete."""
    tasks = {str(i): t for i, t in entry["tasks"].items()}
    states = job_states(list(tasks.values()))
    return {i: cause_and_fix(states.get(t), stage)[0] + f" (job {t})" for i, t in tasks.items()
            if states.get(t) is None or states[t].state not in (*LIVE, "COMPLETED")}


def _tail(path: str | None, lines: int) -> str:
    return "\n".join(tail_lines(path, lines))  # progress bars left out: they would fill it


STOPPED = ("failed", "cancelled")


def _stopped(row: dict[str, Any]) -> bool:
    """Failed or cancelled, or complete although its job did not end well: its dependents were
    cancelled all the same (`afterok` follows the job, not the store)."""
    return row["state"] in STOPPED or "job_ended" in row


def _causes(steps: dict[str, dict[str, Any]]) -> None:
    """Set `because` on each step that stopped or can never run because a step upstream stopped:
    the root of the chain (a step that stopped on its own). `steps` is in graph order, so every
    step's inputs come before it."""
    for row in steps.values():
        if row["state"] not in (*STOPPED, "pending"):
            continue
        for dep in row["depends_on"]:
            up = steps.get(dep)
            if up and _stopped(up):
                row["because"] = up.get("because", dep)
                break


def _because(steps: dict[str, dict[str, Any]], root: str) -> str:
    """`because sft cancelled`, or for a complete step whose job ended badly `because sft's job ended CANCELLED`."""
    r = steps[root]
    return f"because {root}'s job ended {r['job_ended'].split()[0]}" if r["state"] == "complete" else \
        f"because {root} {r['state']}"


def run_status(run_dir: Path, log_lines: int = 30) -> dict[str, Any]:
    """Per step: state (complete | pending | running | failed | cancelled | ...), job id, reason;
    for a step that stopped on its own, its `cause`, `fix` and log tail; for one that stopped or
    never ran because of another, `because` (that step)."""
    jobs = json.loads((run_dir / JOBS_FILE).read_text(encoding="utf-8"))
    plan = load_plan(run_dir)  # each step's stage, key and workers as compiled (jobs.json: older runs)
    store = Store(plan.store if plan else jobs["store"])
    facts = {s.name: {"stage": s.stage, "key": s.key, "workers": s.workers} for s in plan.steps} if plan else {}
    steps: dict[str, dict[str, Any]] = {}
    records: dict[str, dict[str, Any]] = {}
    states = job_states([e["job_id"] for e in jobs["steps"].values() if e.get("job_id")])
    for name, e in jobs["steps"].items():
        e = {**e, **facts.get(name, {})}
        row = {"key": e["key"], "job_id": e.get("job_id"), "depends_on": e.get("depends_on", [])}
        record = store.record(name, e["key"])
        js = states.get(e.get("job_id") or "")
        if record is not None:
            records[name] = record
            row["state"] = "complete"
            if js and js.state not in LIVE and js.state != "COMPLETED":  # its job ended badly all the same
                row["job_ended"] = cause_and_fix(js, e.get("stage", name))[0]
        else:
            if e.get("stage") in STAGES and STAGES[e["stage"]].sharded:
                row.update(shard_progress(store.partial(name, e["key"])))
                if e.get("workers", 1) > 1:
                    row["worker_shards"] = worker_progress(store.partial(name, e["key"]), e["workers"])
            slurm = js.state if js else "UNKNOWN"
            row["slurm_state"] = slurm
            row["reason"] = js.reason if js else "not known to squeue or sacct"
            row["restarts"] = js.restarts if js else 0
            if slurm in LIVE:
                row["state"] = slurm.lower()
            elif slurm == "CANCELLED":
                row["state"] = "cancelled"
            else:  # FAILED, TIMEOUT, OUT_OF_MEMORY, ..., or COMPLETED without an output
                row["state"] = "failed"
            if row["state"] in STOPPED:
                row["cause"], row["fix"] = cause_and_fix(js, e.get("stage", name))
                if e.get("tasks"):  # the gather stopped: say which workers did, and how
                    row["workers_stopped"] = _stopped_workers(e, e.get("stage", name))
        steps[name] = row
    _causes(steps)
    never = [n for n, r in steps.items() if r["state"] == "pending" and "because" in r]
    cancel([steps[n]["job_id"] for n in never])  # in case the site ignores kill-on-invalid-dep
    for n in never:
        steps[n]["state"] = "cancelled"
    roots = [n for n, r in steps.items() if _stopped(r) and "because" not in r]
    affected = {n: [m for m, r in steps.items() if r.get("because") == n] for n in roots}
    roots = [n for n in roots if steps[n]["state"] in STOPPED or affected[n]]  # complete, harmless: left out
    for name in roots:
        row, e = steps[name], jobs["steps"][name]
        if row["state"] == "complete":
            row["cause"] = (f"its output is in the store, but its job ended {row['job_ended']}, so Slurm "
                            "cancelled the jobs that depend on it")
            row["fix"] = "nothing to change: run the same command again; it is reused, its dependents submitted"
        row["log"] = e.get("stderr")
        row["log_tail"] = _tail(e.get("stderr"), log_lines) or _tail(e.get("stdout"), log_lines)
        row["step_log"] = str(run_dir / "steps" / f"{name}.log")  # a step run in its own interpreter
    report = {"run_dir": str(run_dir), "steps": steps,
              "done": all(r["state"] in ("complete", *STOPPED) for r in steps.values()),
              "complete": all(r["state"] == "complete" for r in steps.values()),
              "failed": [n for n, r in steps.items() if r["state"] == "failed"],
              "stopped": roots,  # failed or cancelled on their own; the rest stopped because of them
              "affected": {n: affected[n] for n in roots},
              "resume": resume_command(run_dir)}
    if report["complete"]:
        write_results(run_dir, jobs, store, records)
    return report


def write_results(run_dir: Path, jobs: dict[str, Any], store: Store,
                  records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's results.json, same format as a local run: steps complete before submission are
    "reused", the others "ran" (by this run's job or one it shared)."""
    results: dict[str, Any] = {"stages": {}, "metrics": {}}
    for name, e in jobs["steps"].items():
        record = records[name]
        add_result(results, name, e["key"], store, record, e["state"] != "complete", float(record["seconds"]))
    write_json(run_dir / "results.json", results, atomic=True)
    return results


def wait(run_dir: Path, timeout_s: float, poll_s: float = 5.0) -> dict[str, Any]:
    """Poll until every step is complete, failed or cancelled (or `timeout_s` passes)."""
    deadline = time.time() + timeout_s
    while True:
        report = run_status(run_dir)
        if report["done"] or time.time() > deadline:
            return report
        time.sleep(poll_s)


def format_report(report: dict[str, Any]) -> str:
    """A line per step, then for each step that stopped on its own: its cause, the steps that stopped
    or never ran because of it, the end of its log, what to change; last, the command that resumes."""
    steps = report["steps"]
    width = max(len(n) for n in steps)
    lines = []
    for name, r in steps.items():
        if "because" in r:
            extra = _because(steps, r["because"])
        elif r["state"] in STOPPED:
            extra = r.get("cause", "")
        else:
            extra = r.get("reason", "") if r["state"] != "complete" else ""
        if r.get("restarts"):
            extra = f"{extra} requeued {r['restarts']}x".strip()
        if r.get("shards") and r["state"] != "complete":
            rate = f", {r['rows_per_s']} rows/s" if r.get("rows_per_s") else ""
            extra = f"{extra} shards {r['shards']}{rate}".strip()
        job = r.get("job_id") or "-"
        lines.append(f"{r['state']:>11}  {name:<{width}}  {job:>8}  {extra or ''}".rstrip())
        if r["state"] != "complete":
            for i, w in (r.get("worker_shards") or {}).items():
                rate = f", {w['rows_per_s']} rows/s" if w.get("rows_per_s") else ""
                lines.append(f"{'':>11}  {'':<{width}}  {'':>8}  worker {i}: shards {w['shards']}{rate}")
    for name in report["stopped"]:
        r = steps[name]
        head = f"{name} {r['state']}" if r["state"] != "complete" else name
        lines.append(f"\n{head}: job {r['job_id']}, {r.get('cause', r.get('reason', ''))}.")
        affected = report["affected"][name]
        if affected:
            lines.append(f"Because of it, cancelled or never run ({len(affected)}): {', '.join(affected)}")
        lines.append(f"Last lines of {r.get('log')}:")
        lines.append(r.get("log_tail") or "(no log)")
        if Path(r.get("step_log") or "").is_file():
            lines.append(f"Its step's own log: {r['step_log']}")
        for i, how in (r.get("workers_stopped") or {}).items():
            lines.append(f"Worker {i}: {how}; its finished shards are kept, a rerun submits it alone.")
        lines.append(f"Fix: {r.get('fix', 'see its log')}.")
    if report["complete"]:
        lines.append(f"\nAll steps complete. Results: {Path(report['run_dir']) / 'results.json'}")
    elif report["stopped"]:
        lines.append(f"\nStopped: {', '.join(report['stopped'])}. Resume (complete steps are reused, the "
                     "stopped ones and their dependents submitted again):")
        lines.append(f"  {report['resume'] or 'the same hala-exp command line as before'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every step is complete, 1 if one failed or was cancelled, 3 while still running."""
    p = argparse.ArgumentParser(prog="hala-exp-status", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a run directory written by hala-exp with cluster.submit=slurm")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="poll until every step is done or SECONDS pass")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if not (args.run_dir / JOBS_FILE).is_file():
        print(f"hala-exp-status: {args.run_dir / JOBS_FILE} not found: not a Slurm run directory. "
              "Fix: pass the run directory hala-exp printed", file=sys.stderr)
        return 2
    report = wait(args.run_dir, args.wait) if args.wait else run_status(args.run_dir)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if report["complete"]:
        return 0
    return 1 if report["done"] else 3


if __name__ == "__main__":
    sys.exit(main())
