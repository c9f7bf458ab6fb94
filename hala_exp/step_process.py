"""`python -m hala_exp.step_process SPEC.json`: run one pipeline step (see hala_exp.pipeline.execute)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from hala_exp import fence, progress, stopping
from hala_exp.pipeline import disk_space
from hala_exp.pipeline.execute import LEASE_LOST_EXIT, execute
from hala_exp.pipeline.fanout import work
from hala_exp.shards import role_of

log = logging.getLogger("hala_exp")


def main(argv: list[str] | None = None) -> int:
    """`python -m hala_exp.step_process SPEC.json`: run one step; exit 0 once its output is complete."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hala_exp.step_process SPEC.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    # Run by the pipeline: progress goes back as marker lines in this output, which it reads.
    reporting = os.environ.get(progress.ENV) == "1"

    try:
        with progress.listening(progress.line_writer(sys.stdout)) if reporting else contextlib.nullcontext():
            if role_of(spec).worker is not None:  # one worker of a fanned-out step: its shards only
                with stopping.handling(spec["name"]):
                    ran = work(spec)
                log.info("%s worker of %s %s", "ran" if ran else "nothing left for", spec["name"], spec["key"])
                return 0
            _, ran = execute(spec)
    except stopping.Stopped as e:
        log.error("%s: not committed; exiting with status %d", e, e.exit_code)
        return e.exit_code
    except disk_space.DiskFull as e:
        log.error("%s%s", disk_space.MARK, e)  # the runner reads it from this log
        return disk_space.EXIT
    except fence.LeaseLost as e:
        log.error("step %s: %s; exiting with status %d", spec["name"], e, LEASE_LOST_EXIT)
        return LEASE_LOST_EXIT
    log.info("%s %s %s", "ran" if ran else "reused", spec["name"], spec["key"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
