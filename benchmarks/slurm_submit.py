"""Time from command to all jobs queued for a 20-point `merge.t` sweep on Slurm.

`hala-exp -m merge.t=<20 values> cluster=local_slurm` submits one job per step and point; steps
shared by the points (everything up to SFT) are submitted once and depended on. The baseline is the
same sweep with `plan=true` (compose, build the graph, check the store; no Slurm), so the ratio is
what submission adds. Every job is then cancelled. Needs a running cluster (scripts/slurm/start.sh).

    python benchmarks/slurm_submit.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POINTS = 20


def sweep(root: Path, *extra: str) -> float:
    values = ",".join(f"{(i + 1) / (POINTS + 1):.4f}" for i in range(POINTS))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hala_exp", "-m", f"merge.t={values}", "cluster=local_slurm",
                    f"store={root / 'store'}", f"hydra.sweep.dir={root / 'sweep'}", *extra],
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    if subprocess.run(["scontrol", "ping"], capture_output=True, check=False).returncode != 0:
        sys.exit("no Slurm cluster: start one with scripts/slurm/start.sh")
    with tempfile.TemporaryDirectory() as d:
        plan_s = sweep(Path(d) / "plan", "plan=true")
        submit_s = sweep(Path(d) / "submit")
        files = sorted((Path(d) / "submit" / "sweep").glob("*/jobs.json"))
        steps = [json.loads(p.read_text())["steps"] for p in files]
        ids = sorted({e["job_id"] for s in steps for e in s.values() if e.get("job_id")}, key=int)
        queued = set(subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                                    check=True).stdout.split())
        missing = [j for j in ids if j not in queued]
        subprocess.run(["scancel", *ids], check=False)
    assert len(steps) == POINTS and not missing, f"{len(steps)} points, not queued: {missing}"
    print(f"| {POINTS}-point merge.t sweep | wall s | jobs |\n|---|---|---|")
    print(f"| plan only (baseline, no Slurm) | {plan_s:.2f} | 0 |")
    print(f"| submit (command to all jobs queued) | {submit_s:.2f} | {len(ids)} |")
    print(f"per job: {1000 * (submit_s - plan_s) / len(ids):.0f} ms over the baseline; "
          f"ratio submit / plan: {submit_s / plan_s:.2f}x")


if __name__ == "__main__":
    main()
