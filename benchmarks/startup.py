"""Start-up cost of `hala-exp --cfg job` against a bare Hydra app, both in fresh processes.

Prints median wall time over N runs and the ratio (ours / bare). The CLI must not import torch or
any ML library before a stage needs it, so the ratio should stay near 1-2x.

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
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "conf").mkdir()
        (Path(d) / "conf" / "config.yaml").write_text("model:\n  name: tiny\n  layers: 2\n")
        (Path(d) / "app.py").write_text(BARE_APP)
        bare = [timed([sys.executable, "app.py", "--cfg", "job"], cwd=d) for _ in range(n)]
    ours = [timed([sys.executable, "-m", "hala_exp", "--cfg", "job"]) for _ in range(n)]
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"| command | median s (n={n}) |\n|---|---|")
    print(f"| bare Hydra app --cfg job | {b:.3f} |\n| hala-exp --cfg job | {o:.3f} |")
    print(f"ratio hala-exp / bare: {o / b:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
