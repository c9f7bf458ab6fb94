"""`hala-exp-report RUN_OR_SWEEP_DIR`: one self-contained HTML page about a run or a sweep.

    hala-exp-report outputs/runs/<run>            # step graph, steps, result tables, links
    hala-exp-report outputs/multirun/<sweep>      # the ablation table and plot, then each point

Writes <dir>/report.html (or --out) and prints its path. Reads the run's files only (results.json,
steps.json or jobs.json, run.json, config.yaml, each step's record.json); works on failed and
unfinished runs too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hala_exp.report.load import is_run_dir, load_run, sweep_points
from hala_exp.report.page import run_page
from hala_exp.report.sweep import ablation, sweep_page


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="hala-exp-report", description=__doc__.split("\n")[0])
    ap.add_argument("path", type=Path, help="a run directory (outputs/runs/...) or a sweep directory")
    ap.add_argument("--out", type=Path, help="the HTML file to write (default: <path>/report.html)")
    ap.add_argument("--system", default="student_merged", help="sweep table: as hala-exp-table --system")
    ap.add_argument("--translation-system", default="translator",
                    help="sweep table: as hala-exp-table --translation-system ('none' for none)")
    ap.add_argument("--metric", action="append", default=[], metavar="STEP.METRIC[:min]",
                    help="sweep table: an extra column, as hala-exp-table --metric (repeatable)")
    ap.add_argument("--curve", action="append", default=[], metavar="STEP.METRIC",
                    help="sweep: also plot a metric logged along training, as hala-exp-table --curve")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if not a.path.is_dir():
        print(f"hala-exp-report: {a.path} is not a directory. Fix: pass outputs/runs/<run> or "
              "outputs/multirun/<sweep>", file=sys.stderr)
        return 2
    if is_run_dir(a.path):
        text = run_page(load_run(a.path))
    else:
        dirs = sweep_points(a.path)
        if not dirs:
            print(f"hala-exp-report: {a.path} holds no run (no results.json, steps.json or jobs.json in it or "
                  "its numbered subfolders). Fix: pass the directory hala-exp printed", file=sys.stderr)
            return 2
        tsys = None if a.translation_system == "none" else a.translation_system
        table_html, plots = ablation(dirs, a.system, tsys, a.metric, a.curve)
        text = sweep_page(a.path, [load_run(d) for d in dirs], table_html, plots)
    out = a.out or a.path / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"Report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
