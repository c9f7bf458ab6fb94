"""The tiny recipe end to end through the real CLI: content, reuse, invalidation, kill and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hala_exp.arabic_text import has_arabic
from hala_exp.json_files import read_jsonl

pytestmark = pytest.mark.slow

SYSTEMS = ("teacher", "teacher_fp8", "translator_base", "translator", "student_base", "student_sft",
           "student_merged")


def cli(store: Path, run_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hala_exp", f"store={store}", f"hydra.run.dir={run_dir}",
                             *overrides], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def run(store: Path, run_dir: Path, *overrides: str) -> dict:
    proc = cli(store, run_dir, *overrides)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    results = json.loads((run_dir / "results.json").read_text())
    results["stdout"] = out
    return results


def ran(results: dict) -> set[str]:
    return {n for n, s in results["stages"].items() if s["status"] == "ran"}


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    return root / "store", run(root / "store", root / "run1"), root


def test_first_run_runs_every_stage_and_reports_each_system(first):
    _, results, root = first
    assert ran(results) == set(results["stages"]) and len(results["stages"]) == 24
    for name, stage in results["stages"].items():
        assert set(stage) >= {"status", "key", "dir", "seconds"}
        assert (Path(stage["dir"]) / "record.json").is_file()
    m = results["metrics"]
    for system in ("teacher", "teacher_fp8", "translator_base", "translator"):
        for metric in ("bleu", "chrf", "rougeL"):
            assert 0 <= m[f"evaluate.{system}.translation.{metric}"] <= 100
    for system in ("student_base", "student_sft", "student_merged"):
        assert 0 <= m[f"evaluate.{system}.arabic_mmlu_sample.acc_norm"] <= 1
    assert all(isinstance(v, (int, float)) for v in m.values())
    for system in SYSTEMS:
        assert system in results["stdout"]


# What the demo may print, stdout and stderr together: step lines, the result tables, where things are.
CONSOLE_BUDGET = 100
CONSOLE_LINE = re.compile("|".join([
    r"\[\s*\d+/\d+\] (running|ran|reused) .*",  # a step starting, still running, or done
    r"\|.*\|",  # a table row
    r"(Translation EN->AR|Benchmarks|Held-out text)[: ].*",  # a table's title
    r"\d+ stages ran, \d+ reused\.", r"(Results|Report|W&B): .*", r"",
]))


def test_demo_console_is_a_line_per_step_and_the_tables_with_no_library_output(first):
    _, results, root = first
    lines = results["stdout"].splitlines()
    assert len(lines) <= CONSOLE_BUDGET, f"{len(lines)} lines:\n" + results["stdout"]
    assert [line for line in lines if not CONSOLE_LINE.fullmatch(line)] == []  # no third-party line at all
    done = [line for line in lines if re.match(r"\[\s*\d+/24\] ran ", line)]
    assert len(done) == 24 and "translate_bootstrap" in "".join(done)
    assert "train_loss " in next(line for line in done if " sft " in line)  # the step's headline metric
    # tracking unaffected by the capture; source snapshots open no W&B run
    assert any(line.startswith("W&B: 19 offline runs") for line in lines)
    steps = root / "run1" / "steps"
    assert {p.stem for p in steps.glob("*.log")} == set(results["stages"])
    logs = "".join(p.read_text(errors="replace") for p in steps.glob("*.log"))
    for library in ("[lighteval", "[mergekit", "Skipping optional weight", "Repo card metadata", "it/s]"):
        assert library in logs, library  # what the console left out is in the step logs
    board = json.loads((root / "run1" / "steps.json").read_text())["steps"]
    assert [b["name"] for b in board] == [re.search(r"\] ran\s+(\S+)", line)[1] for line in done]  # graph order
    assert {b["status"] for b in board} == {"ran"} and sorted(b["name"] for b in board) == sorted(results["stages"])


def test_the_run_report_renders_the_graph_and_the_tables_in_a_browser(first):
    from browser import dump_dom, pixels_like, screenshot

    _, results, root = first
    proc = subprocess.run([sys.executable, "-m", "hala_exp.report", str(root / "run1")], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = root / "run1" / "report.html"
    dom = dump_dom(page)
    assert sorted(re.findall(r'data-step="([^"]+)"', dom)) == sorted(results["stages"])
    assert dom.count('class="edge"') >= 18 and "Step graph" in dom
    assert "Translation EN-&gt;AR" in dom and "Benchmarks: suite smoke" in dom
    assert "paper: teacher FP8 (command-a-translate)" in dom
    png = screenshot(page, root / "report.png", height=1800)
    assert pixels_like(png, (0xd6, 0xf5, 0xdd)) > 20000  # 19 green (ran) nodes drawn


def test_demo_prints_table2_and_suite_tables_with_the_papers_rows(first):
    _, results, _ = first
    out, m = results["stdout"], results["metrics"]
    assert "Translation EN->AR" in out and "| system | BLEU | ROUGE-L | chrF++ |" in out
    assert "| paper: teacher FP8 (command-a-translate) | 53.50 | 26.00 | 68.90 |" in out
    assert "Benchmarks: suite smoke" in out and "| paper: HALA-1.2B |" in out
    for system in ("student_base", "student_sft", "student_merged"):
        avg = m[f"evaluate.{system}.smoke.average"]
        assert avg == m[f"evaluate.{system}.smoke.arabic_mmlu_sample"]
        assert avg == pytest.approx(100 * m[f"evaluate.{system}.arabic_mmlu_sample.acc_norm"])
        assert f"| {system} | {avg:.2f} | {avg:.2f} |  |" in out


def test_run_record_holds_config_overrides_git_versions_and_seeds(first):
    _, _, root = first
    run_dir = root / "run1"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["git"]["commit"] and isinstance(record["git"]["dirty"], bool)
    assert record["versions"]["torch"].startswith("2.13") and "trl" in record["versions"]
    assert record["seeds"]["data"] == 0
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["merge"]["t"] == 0.5 and resolved["name"] == "tiny"
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()


def test_stage_outputs_have_real_content(first):
    store, results, _ = first
    d = {n: Path(s["dir"]) for n, s in results["stages"].items()}
    tuples = read_jsonl(d["translate_bootstrap"] / "tuples.jsonl")
    set_aside = read_jsonl(d["translate_bootstrap"] / "rejected.jsonl")  # failed a quality gate
    source_ids = [json.loads(line)["id"] for line in
                  open(Path(__file__).parents[1] / "hala_exp/data/samples/orca_style/sample.jsonl")][:48]
    assert sorted(t["id"] for t in tuples + set_aside) == sorted(source_ids)
    assert [t["id"] for t in tuples] == [i for i in source_ids if i in {t["id"] for t in tuples}]
    assert all(r["reasons"] for r in set_aside) and len(tuples) >= 0.5 * len(source_ids)
    assert all(has_arabic(t["instr_ar"]) for t in tuples)
    verdicts = {k: read_jsonl(d["judge"] / f"{k}.jsonl") for k in ("accepted", "rejected", "invalid")}
    jm = results["metrics"]
    assert sum(len(v) for v in verdicts.values()) == jm["judge.candidates"] == 64
    assert jm["judge.accepted"] + jm["judge.rejected"] + jm["judge.invalid"] == jm["judge.candidates"]
    assert jm["judge.invalid_rate"] == pytest.approx(jm["judge.invalid"] / jm["judge.candidates"])
    corpus = read_jsonl(d["translate_corpus"] / "corpus.jsonl")
    corpus_aside = read_jsonl(d["translate_corpus"] / "rejected.jsonl")
    assert len({r["id"] for r in corpus + corpus_aside}) == len(corpus) + len(corpus_aside) == 80
    assert jm["translate_corpus.mix.rows"] == 80 and (d["translate_corpus"] / "mix.parquet").is_file()
    assert jm["translate_corpus.gates.passed"] == len(corpus) > 0
    assert all(has_arabic(r["instr_ar"]) for r in corpus)
    for model in ("quantize_teacher", "train_translator", "sft", "merge"):
        assert (d[model] / "model" / "config.json").is_file()


def test_rerun_with_nothing_changed_does_no_work(first):
    store, results, root = first
    again = run(store, root / "run2")
    assert ran(again) == set()
    assert len(re.findall(r"^\[\s*\d+/24\] reused ", again["stdout"], re.M)) == 24  # a line per step, no start lines
    assert {k: v for k, v in again["metrics"].items()} == results["metrics"]
    assert [s["key"] for s in again["stages"].values()] == [s["key"] for s in results["stages"].values()]


def test_changing_merge_t_reruns_merge_and_its_evaluation_only(first):
    store, results, root = first
    again = run(store, root / "run3", "merge.t=0.25")
    assert ran(again) == {"merge", "evaluate.student_merged"}


def test_changing_the_data_mix_reruns_from_translate_corpus(first):
    store, _, root = first
    again = run(store, root / "run4", "data.corpus.orca.rows=40")
    assert ran(again) == {"source.corpus.orca", "translate_corpus", "sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}


def test_an_arabic_share_of_the_sft_set_reruns_from_sft_on_english_originals(first):
    store, results, root = first
    again = run(store, root / "run_ratio", "data.mix.arabic_ratio=0.5", "merge=none")
    assert ran(again) == {"sft", "evaluate.student_sft"}  # the translation is shared
    m = again["metrics"]
    total = results["metrics"]["sft.rows_arabic"]
    assert results["metrics"]["sft.rows_english"] == 0
    assert m["sft.rows_arabic"] + m["sft.rows_english"] == total and m["sft.rows_arabic"] == round(total / 2)


def test_a_stage_killed_mid_write_is_redone_and_nothing_else(first):
    store, _, root = first
    proc = cli(store, root / "run5", "merge.t=0.75")
    deadline = time.time() + 300
    while time.time() < deadline and not any(p.name.startswith("merge-") for p in (store / ".tmp").iterdir()):
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before merge started"
    time.sleep(0.2)  # inside the merge (a tiny merge takes seconds): killed before it can commit
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    complete = {p.name for p in (store / "merge").iterdir()}
    again = run(store, root / "run6", "merge.t=0.75")
    assert ran(again) == {"merge", "evaluate.student_merged"}
    assert again["stages"]["merge"]["key"] not in complete  # the killed attempt left nothing complete
    assert not any(p.name.startswith("merge-") for p in (store / ".tmp").iterdir())
