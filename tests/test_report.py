"""`hala-exp-report`: the page of a run (complete, failed, Slurm, older runs) and of a sweep, read from
run files laid out as the pipeline writes them, and opened in a headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from browser import dump_dom, pixels_like, screenshot

from hala_exp.json_files import write_json
from hala_exp.pipeline.results import add_result
from hala_exp.pipeline.steps_file import StepsFile
from hala_exp.pipeline.store import RECORD, Store
from hala_exp.recipes.graph import Ref, Step
from hala_exp.report.cli import main

STEPS = [Step("build.student_base", "build_model", "m:f", {}),
         Step("build.translator_base", "build_model", "m:f", {}),
         Step("sft", "sft", "m:f", {}, {"model": Ref("build.student_base", "model")}),
         Step("merge", "merge", "m:f", {}, {"base": Ref("build.student_base", "model"), "tuned": Ref("sft", "model")}),
         Step("evaluate.translator_base", "evaluate_translation", "m:f", {},
              {"model": Ref("build.translator_base", "model")}),
         Step("evaluate.student_merged", "evaluate_lighteval", "m:f", {}, {"model": Ref("merge", "model")})]
METRICS = {"build.student_base": {"parameters": 23040.0}, "build.translator_base": {"parameters": 23040.0},
           "sft": {"train_loss": 5.7, "steps": 3.0, "loss_step1": 6.0, "loss_step3": 5.5}, "merge": {"t": 0.5},
           "evaluate.translator_base": {"translation.bleu": 1.5, "translation.chrf": 5.0, "translation.rougeL": 2.0,
                                        "translation.n": 16.0},
           "evaluate.student_merged": {"smoke.average": 32.44, "smoke.arabic_mmlu_sample": 32.44,
                                       "arabic_mmlu_sample.acc_norm": 0.3244}}
RAN_FILL, FAILED_FILL = (0xd6, 0xf5, 0xdd), (0xfb, 0xd5, 0xd5)  # hala_exp/report/graph.py STATUS_FILL


def _png(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)


def fake_run(root: Path, name: str = "run", fail: str | None = None, merge_t: float = 0.5) -> Path:
    """A run directory as `hala-exp` leaves it: run.json, config.yaml, results.json, steps.json,
    step logs, and each finished step's output with its record and tracking file in the store."""
    run_dir, store = root / name, Store(root / "store")
    run_dir.mkdir(parents=True)
    keys = {s.name: f"{i:02d}{name[-1]}{merge_t}".ljust(16, "0")[:16] for i, s in enumerate(STEPS)}
    board = StepsFile(run_dir, STEPS, keys)
    results: dict = {"stages": {}, "metrics": {}}
    write_json(run_dir / "run.json", {"name": "tiny", "overrides": [f"merge.t={merge_t}"], "store": str(store.root),
                                      "git": {"commit": "0123456789abcdef", "dirty": True}, "host": {"hostname": "h"}})
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"name": "tiny", "model": {"id": "tiny"},
                                                         "merge": {"t": merge_t}, "logger": {"backend": "wandb"}}))
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"merge.t={merge_t}"]))
    for i, s in enumerate(STEPS):
        log = run_dir / "steps" / f"{s.name}.log"
        log.parent.mkdir(exist_ok=True)
        if s.name == fail:
            log.write_text("loading model\nTraceback (most recent call last):\nRuntimeError: out of cheese\n")
            board.update(s.name, status="failed", seconds=1.5, error="RuntimeError: out of cheese",
                         log=f"steps/{s.name}.log")
            board.not_run()
            break
        out = store.path(s.name, keys[s.name])
        out.mkdir(parents=True)
        run_id = f"{name[-1]}{i:011d}"
        (root / "wb" / "wandb" / f"offline-run-20260101_000000-{run_id}").mkdir(parents=True)
        record = {"stage": s.stage, "name": s.name, "key": keys[s.name], "metrics": METRICS[s.name],
                  "seconds": 12.0 + i, "inputs": {k: {"path": "x", "key": keys[v.step]} for k, v in s.inputs.items()},
                  "tracking": {"run_id": run_id, "mode": "offline", "project": "hala-exp", "entity": None,
                               "dir": str(root / "wb")}}
        (out / RECORD).write_text(json.dumps(record))
        if s.name == "sft":
            _png(out / "loss.png")
        ran = s.name != "build.translator_base"
        if ran:
            log.write_text(f"step {s.name}\n")
        add_result(results, s.name, keys[s.name], store, record, ran, 12.0 + i)
        board.update(s.name, status="ran" if ran else "reused", seconds=12.0 + i if ran else 0.0,
                     **({"log": f"steps/{s.name}.log"} if ran else {}))
        write_json(run_dir / "results.json", results)
    return run_dir


def report(path: Path, *args: str) -> str:
    assert main([str(path), *args]) == 0
    return (path / "report.html").read_text()


def node_names(page: str) -> list[str]:
    return re.findall(r'<g class="node [^"]*" data-step="([^"]+)"', page)


def test_run_page_draws_the_graph_lists_the_steps_and_shows_the_tables(tmp_path):
    run_dir = fake_run(tmp_path)
    page = report(run_dir)
    assert node_names(page) == ["build.student_base", "build.translator_base", "sft", "evaluate.translator_base",
                                "merge", "evaluate.student_merged"]  # row by row, inputs above
    assert page.count('class="edge"') == 5
    for s in STEPS:
        assert f'id="step-{s.name.replace(".", "-")}"' in page
    assert 'status-reused" data-step="build.translator_base"' in page and "took 13.0s" in page
    assert "<caption>Translation EN-&gt;AR" in page and "paper: teacher FP8 (command-a-translate)" in page
    assert "<caption>Benchmarks: suite smoke" in page and "<td class=\"num\">32.44</td>" in page
    offline = tmp_path / "wb" / "wandb" / "offline-run-20260101_000000-n00000000002"
    assert f'href="{offline.as_uri()}">n00000000002</a>' in page  # the sft step's offline W&B run
    assert f'href="{(tmp_path / "store" / "sft").as_uri()}' in page and "steps/sft.log" in page
    assert "data:image/png;base64," in page and "sft: loss.png" in page
    assert not re.search(r'(src|href)="https?://', page) and "<script" not in page and "<link" not in page
    assert "train_loss 5.7" in page and "smoke.average 32.44" in page  # headline per step


def test_a_failed_run_shows_the_error_the_log_tail_and_what_never_ran(tmp_path):
    page = report(fake_run(tmp_path, fail="merge"))
    assert "Step merge failed" in page and "RuntimeError: out of cheese" in page and "loading model" in page
    assert "Not run (2):</b> evaluate.translator_base, evaluate.student_merged" in page
    assert 'status-failed" data-step="merge"' in page and 'status-not-run" data-step="evaluate.student_merged"' in page
    assert '<span class="badge failed">failed</span>' in page


def test_older_runs_and_slurm_runs_get_their_graph_from_records_or_jobs(tmp_path):
    run_dir = fake_run(tmp_path)
    (run_dir / "steps.json").unlink()  # an older run: results.json (sorted by name) and the records
    page = report(run_dir)
    assert node_names(page)[:2] == ["build.student_base", "build.translator_base"] and page.count('class="edge"') == 5
    results = json.loads((run_dir / "results.json").read_text())
    jobs = {"store": str(tmp_path / "store"), "steps": {
        n: {"key": s["key"], "stage": "x", "dir": s["dir"], "state": "submitted", "job_id": "7",
            "depends_on": [] if n.startswith("build") else ["build.student_base"]}
        for n, s in results["stages"].items()}}
    slurm = tmp_path / "slurm_run"
    slurm.mkdir()
    write_json(slurm / "jobs.json", jobs)
    page = report(slurm)
    assert len(node_names(page)) == 6 and page.count('class="edge"') == 4
    assert "status-submitted" in page


def test_a_garbage_record_does_not_stop_the_page(tmp_path):
    run_dir = fake_run(tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    (Path(results["stages"]["sft"]["dir"]) / RECORD).write_text("{\"metrics\": {", encoding="utf-8")
    (run_dir / "steps.json").unlink()  # the graph from the records: sft's is unreadable
    page = report(run_dir)
    assert "sft" in node_names(page) and len(node_names(page)) == 6


def make_sweep(root: Path) -> Path:
    sweep = root / "sweep"
    for i, t in enumerate((0.0, 0.5, 1.0)):
        METRICS["evaluate.student_merged"]["arabic_mmlu_sample.acc_norm"] = 0.3 + 0.05 * i
        fake_run(sweep, str(i), merge_t=t)
    return sweep


def test_sweep_page_has_the_ablation_table_its_plot_and_every_point(tmp_path):
    page = report(make_sweep(tmp_path), "--curve", "sft.loss")
    assert "<h2>Sweep table</h2>" in page and '<table class="grid ablation">' in page
    assert "<th>merge.t</th>" in page and page.count("<th>0.0</th>") + page.count("<th>0.5</th>") == 2
    assert "<strong>40.00</strong>" in page  # the best point's score, bold as in ablation.md
    assert page.count("<img class='plot' src='data:image/png;base64,") == 2  # score vs t, the loss curve
    assert page.count("<section class='point'") == 3 and page.count("<svg") >= 3 + 3  # + legend swatches


def test_the_cli_names_a_directory_that_holds_no_run(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hala_exp.report", str(tmp_path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2 and "holds no run" in proc.stderr and "Fix:" in proc.stderr


def test_the_page_renders_in_a_headless_browser(tmp_path):
    run_dir = fake_run(tmp_path, fail="evaluate.student_merged")
    report(run_dir)
    dom = dump_dom(run_dir / "report.html")
    assert len(re.findall(r'<g class="node', dom)) == 6 and "Step graph" in dom
    assert dom.count('<table class="grid">') == 1 and "Translation EN-&gt;AR" in dom  # lighteval never ran
    png = screenshot(run_dir / "report.html", tmp_path / "report.png", height=1600)
    assert pixels_like(png, RAN_FILL) > 5000 and pixels_like(png, FAILED_FILL) > 1000  # nodes drawn, by status
    sweep = make_sweep(tmp_path / "s")
    report(sweep)
    dom = dump_dom(sweep / "report.html")
    assert 'class="grid ablation"' in dom and dom.count("class=\"point\"") == 3


@pytest.fixture(autouse=True)
def _restore_metrics():
    saved = dict(METRICS["evaluate.student_merged"])
    yield
    METRICS["evaluate.student_merged"] = saved
