"""Start-up cost of `hala-exp` against a bare Hydra app, both in fresh processes, alternating.

Two comparisons: `--cfg job` (compose and print the config) against a bare `@hydra.main` app doing
the same, and `plan=true` with a fresh store (compose, validate, build the graph, hash the inputs,
look up every step) against the bare app run normally (compose and print). Every sweep launch,
every Slurm job's start and every `plan` pays this. Each command runs with the same arguments
every time, as a user repeating it would, so `hala-exp` reads its composed config back from the
composition cache; one run of each before the timed ones fills it, and the `--cfg job` command is
also timed with the cache off (`HALA_EXP_COMPOSE_CACHE=0`). The store is deleted before each
`plan=true`. Python writes and reuses bytecode here as on an ordinary install, whatever
PYTHONDONTWRITEBYTECODE says in this shell. Prints medians over N runs of each and the ratios.

    python benchmarks/startup.py [N]
"""

from __future__ import annotations

import os
import shutil
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


def timed(cmd: list[str], cwd: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main(n: int = 7) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    uncached = {**env, "HALA_EXP_COMPOSE_CACHE": "0"}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "conf").mkdir()
        (Path(d) / "conf" / "config.yaml").write_text("model:\n  name: tiny\n  layers: 2\n")
        (Path(d) / "app.py").write_text(BARE_APP)
        store = Path(d) / "store"
        runs: dict[str, tuple[list[str], dict[str, str]]] = {
            "bare --cfg job": ([sys.executable, "app.py", "--cfg", "job"], env),
            "hala-exp --cfg job": ([sys.executable, "-m", "hala_exp", "--cfg", "job"], env),
            "hala-exp --cfg job, composition cache off": ([sys.executable, "-m", "hala_exp", "--cfg", "job"],
                                                          uncached),
            "bare run": ([sys.executable, "app.py", f"hydra.run.dir={d}/bare"], env),
            "hala-exp plan=true (fresh store)": (
                [sys.executable, "-m", "hala_exp", "plan=true", f"store={store}", f"hydra.run.dir={d}/run"], env),
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        for i in range(n + 1):
            for name, (cmd, cmd_env) in runs.items():
                shutil.rmtree(store, ignore_errors=True)
                t = timed(cmd, d, cmd_env)
                if i:  # the first round fills the bytecode and composition caches
                    times[name].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"| command | median s (n={n}) |\n|---|---|")
    for k, v in med.items():
        print(f"| {k} | {v:.3f} |")
    print(f"ratio --cfg job: {med['hala-exp --cfg job'] / med['bare --cfg job']:.2f}x "
          f"(cache off: {med['hala-exp --cfg job, composition cache off'] / med['bare --cfg job']:.2f}x); "
          f"plan=true: {med['hala-exp plan=true (fresh store)'] / med['bare run']:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
