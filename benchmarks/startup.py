"""Start-up cost of `hala-exp` against a bare Hydra app, both in fresh processes, alternating.

Two comparisons: `--cfg job` (compose and print the config) against a bare `@hydra.main` app doing
the same, and `plan=true` with a fresh store (compose, validate, build the graph, hash the inputs,
look up every step) against the bare app run normally (compose and print). Every sweep launch,
every Slurm job's start and every `plan` pays this. Prints medians over N runs of each and the
ratios (ours / bare); the CLI must import no ML library before a stage needs it.

    python benchmarks/startup.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_APP = '''
import hydra
from omegaconf import DictConfig, OmegaConf

@hydra.main(config_path="conf", config_name="config", version_base=None)
def app(cfg: DictConfig) -> None:
    print(OmegaConf.to_yaml(cfg))

app()
'''


def timed(cmd: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main(n: int = 7) -> None:
    times: dict[str, list[float]] = {"bare --cfg job": [], "hala-exp --cfg job": [], "bare run": [],
                                     "hala-exp plan=true (fresh store)": []}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "conf").mkdir()
        (Path(d) / "conf" / "config.yaml").write_text("model:\n  name: tiny\n  layers: 2\n")
        (Path(d) / "app.py").write_text(BARE_APP)
        for i in range(n):
            times["bare --cfg job"].append(timed([sys.executable, "app.py", "--cfg", "job"], cwd=d))
            times["hala-exp --cfg job"].append(timed([sys.executable, "-m", "hala_exp", "--cfg", "job"]))
            times["bare run"].append(timed([sys.executable, "app.py", f"hydra.run.dir={d}/bare{i}"], cwd=d))
            times["hala-exp plan=true (fresh store)"].append(timed(
                [sys.executable, "-m", "hala_exp", "plan=true", f"store={d}/store{i}", f"hydra.run.dir={d}/run{i}"]))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"| command | median s (n={n}) |\n|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} |")
    print(f"ratio --cfg job: {med['hala-exp --cfg job'] / med['bare --cfg job']:.2f}x; "
          f"plan=true: {med['hala-exp plan=true (fresh store)'] / med['bare run']:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
