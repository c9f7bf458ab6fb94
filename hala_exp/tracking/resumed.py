"""Where a resumed W&B run's history ends: the step a requeued attempt must log after.

Online, the server says (`run.starting_step`). Offline, each attempt writes its own
`offline-run-<time>-<id>` folder, and a killed attempt's folder holds only what its W&B service had
written when the kill came (often none of its history: the writes are buffered), so what earlier
attempts logged is read back from their files, with wandb's own reader, not assumed.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("hala_exp")


def _last_step(run_dir: Path) -> int:
    """The last history step in one offline run folder, -1 when it has none."""
    proc = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_dir)],
                          capture_output=True, text=True, check=False)
    last = -1
    for line in proc.stdout.splitlines():  # a cut file still yields every record before the cut
        if '"type":"history"' in line:
            last = max(last, int(json.loads(line)["history"]["step"].get("num", 0)))
    if proc.returncode != 0 and last < 0:
        log.warning("W&B: could not read %s (%s); its steps may be logged again", run_dir, proc.stderr.strip()[-200:])
    return last


def history_end(run: Any) -> int:
    """The last step earlier attempts of `run` recorded (-1: none), online or offline."""
    if not run.settings._offline:
        return int(run.starting_step) - 1
    current = Path(run.settings.sync_dir)
    earlier = [d for d in current.parent.glob(f"offline-run-*-{run.id}") if d != current and d.is_dir()]
    return max((_last_step(d) for d in earlier), default=-1)
