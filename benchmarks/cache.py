"""The tiny pipeline cold (empty store) against fully cached (same store, nothing changed).

Prints both wall times and the ratio cold / cached: what the content-keyed store saves on a rerun.

    python benchmarks/cache.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(store: Path, run_dir: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hala_exp", f"store={store}", f"hydra.run.dir={run_dir}"],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, json.loads((run_dir / "results.json").read_text())


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "store"
        cold, r1 = run(store, Path(d) / "cold")
        warm, r2 = run(store, Path(d) / "warm")
    ran = sum(s["status"] == "ran" for s in r1["stages"].values())
    reused = sum(s["status"] == "reused" for s in r2["stages"].values())
    print("| run | wall s | stages |\n|---|---|---|")
    print(f"| cold (empty store) | {cold:.1f} | {ran} ran |")
    print(f"| cached (nothing changed) | {warm:.1f} | {reused} reused |")
    print(f"ratio cold / cached: {cold / warm:.1f}x")


if __name__ == "__main__":
    main()
