"""`hala-exp -m +search=merge_t` (the hala_search sweeper) on a tiny model: the study, the Pareto
front, a kill mid-trial and the resume, one fine-tune for all trials, W&B group, the table's front."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hala_exp.config.errors import ConfigError
from hala_exp.search.front import on_front
from hala_exp.search.space import parse_space

pytestmark = pytest.mark.slow

GROUP = "smollm2_merge-merge_t"
# a few SFT steps and held-out rows: the search's mechanics, not a study
FAST = ("train.max_steps=4", "eval.heldout.texts.arabic.rows=32", "eval.heldout.texts.english.rows=32")
OBJECTIVES = ("heldout.student_merged.arabic.loss", "heldout.student_merged.english.loss")


def command(root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hala_exp", "-m", "experiment=smollm2_merge", "model=tiny", "+search=merge_t",
            "targets=[heldout.student_merged]", "hydra.sweeper.n_trials=3", *FAST, f"hydra.sweep.dir={root / 's'}",
            f"store={root / 'store'}", f"logger.dir={root / 'wb'}", *extra]


def run(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(command(root, *extra), cwd=root, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """Started, killed (SIGKILL) once trial 1 has begun, then the same command again to the end."""
    root = tmp_path_factory.mktemp("search")
    proc = subprocess.Popen(command(root), cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (root / "s" / "1").is_dir():
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        assert time.monotonic() < deadline, "trial 1 never started"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    at_kill = json.loads((root / "s" / "search.json").read_text())
    first = (root / "s" / "0" / "results.json").read_bytes()
    again = run(root)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    summary = json.loads((root / "s" / "search.json").read_text())
    return root, at_kill, first, again.stdout + again.stderr, summary


def results(root: Path, trial: dict) -> dict:
    return json.loads((Path(trial["run_dir"]) / "results.json").read_text())


def complete(summary: dict) -> list[dict]:
    return [t for t in summary["trials"] if t["state"] == "COMPLETE"]


def test_the_killed_trial_runs_again_and_completed_ones_do_not(search):
    root, at_kill, first, out, summary = search
    assert [t["state"] for t in at_kill["trials"]] == ["COMPLETE", "RUNNING"]
    assert (root / "s" / "study.journal").stat().st_size > 0
    states = {t["number"]: t for t in summary["trials"]}
    assert [states[n]["state"] for n in range(4)] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert states[2]["retry_of"] == 1 and states[2]["params"] == states[1]["params"]  # same values again
    assert states[3]["retry_of"] is None
    assert "1 of 3 trials done" in out
    assert (root / "s" / "0" / "results.json").read_bytes() == first  # trial 0 was not run again
    assert sorted(d.name for d in (root / "s").iterdir() if d.is_dir() and d.name.isdigit()) == ["0", "1", "2", "3"]
    assert not (root / "s" / "1" / "results.json").exists()  # the killed trial's run never finished


def test_objectives_are_the_trials_results_and_the_front_is_their_non_dominated_set(search):
    _, _, _, _, summary = search
    done = complete(summary)
    assert len(done) == 3
    values = []
    for t in done:
        metrics = results(search[0], t)["metrics"]
        assert t["values"] == [metrics[m] for m in OBJECTIVES]
        assert metrics["merge.t"] == pytest.approx(t["params"]["merge.t"])
        values.append(t["values"])
    brute = [t["number"] for t, v in zip(done, values)
             if not any(all(o <= x for o, x in zip(w, v)) and w != v for w in values)]
    assert summary["front"] == brute  # optuna's best_trials
    assert [t["number"] for t, f in zip(done, on_front(values, [True, True])) if f] == brute


def test_the_fine_tune_runs_once_across_trials(search):
    root, _, _, _, summary = search
    done = complete(summary)
    stages = [results(root, t)["stages"] for t in done]
    assert [s["sft"]["status"] for s in stages] == ["ran", "reused", "reused"]
    assert len({s["sft"]["key"] for s in stages}) == 1
    assert len({s["merge"]["key"] for s in stages}) == len({t["params"]["merge.t"] for t in done}) == 3


def test_each_trial_is_tracked_in_the_search_group(search):
    root, _, _, _, summary = search
    offline = {p.name.rsplit("-", 1)[-1] for p in (root / "wb" / "wandb").glob("offline-run-*")}
    for t in complete(summary):
        for step in ("merge", "heldout.student_merged"):
            stage = results(root, t)["stages"][step]
            assert stage["wandb_run_id"] in offline
            assert json.loads((Path(stage["dir"]) / "tracking.json").read_text())["group"] == GROUP


def test_the_table_marks_the_front_and_plots_it(search):
    root, _, _, _, summary = search
    out = subprocess.run([sys.executable, "-m", "hala_exp.table", str(root / "s"), "--translation-system", "none",
                          "--out", str(root / "table"), "--wandb", "off"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = list(csv.DictReader((root / "table" / "ablation.csv").open()))
    front_dirs = {str(Path(t["run_dir"])) for t in complete(summary) if t["number"] in summary["front"]}
    assert {r["run_dir"] for r in rows if r["search"] == "front"} == front_dirs
    assert {r["search"] for r in rows} <= {"front", "trial", "stopped"}
    assert len([r for r in rows if r["search"] in ("front", "trial")]) == 3
    png = (root / "table" / "front.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert f"Pareto front (heldout.student_merged.arabic.loss:min, heldout.student_merged.english.loss:min): " \
           f"{len(summary['front'])} of 3 trials." in out.stdout


def test_another_search_in_the_same_directory_is_refused(search):
    root = search[0]
    proc = run(root, "hydra.sweeper.objectives=[heldout.student_merged.arabic.loss:min]")
    assert proc.returncode == 2
    assert "it holds a search with other objectives" in proc.stderr and "hydra.sweep.dir" in proc.stderr


def test_an_objective_the_pipeline_never_computes_is_refused_before_any_trial(tmp_path):
    proc = run(tmp_path, "hydra.sweeper.objectives=[heldout.student_sft.arabic.loss:min]")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "hydra.sweeper.objectives[0] = 'heldout.student_sft.arabic.loss:min': no step 'heldout.student_sft'" \
           in proc.stderr and "heldout.student_merged" in proc.stderr
    assert not (tmp_path / "s").exists()  # no trial, no study: the fixed command starts afresh


def test_search_space_errors_name_the_key_and_the_grammar():
    assert [(p.kind, p.low, p.high, p.log) for p in parse_space(
        {"merge.t": "interval(0, 1)", "lr": "tag(log, interval(1e-5, 1e-3))"})] == [
        ("float", 0.0, 1.0, False), ("float", 1e-5, 1e-3, True)]
    (stepped,) = parse_space({"merge.tuned.density": "range(0.2, 1.05, 0.2)"})
    assert (stepped.low, stepped.step) == (0.2, 0.2) and stepped.high == pytest.approx(1.0)
    assert parse_space({"merge": "choice(slerp, ties)"})[0].choices == ("slerp", "ties")
    with pytest.raises(ConfigError, match=r"hydra.sweeper.params.merge.t = '0.5': one value, nothing to search"):
        parse_space({"merge.t": "0.5"})
    with pytest.raises(ConfigError, match=r"hydra.sweeper.params.merge.t = 'interval\(1, 0\)': the interval is empty"):
        parse_space({"merge.t": "interval(1, 0)"})


@pytest.mark.parametrize("name", ["merge_t", "merge_t_split", "merge_ties"])
def test_each_search_composes_and_its_values_reach_the_merge_only(name):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from hala_exp.config import CONF_DIR, compose, validate
    from hala_exp.config.schema import register
    from hala_exp.recipes import build_graph
    from hala_exp.recipes.graph import step_keys

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        cfg = hydra_compose("config", overrides=["experiment=smollm2_merge", f"+search={name}"],
                            return_hydra_config=True)
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.hala_exp_search.search_sweeper.HalaSearchSweeper"
    assert cfg.logger.group == f"smollm2_merge-{name}"
    assert cfg.hydra.sweep.dir == f"outputs/search/smollm2_merge-{name}"
    space = parse_space(dict(cfg.hydra.sweeper.params))
    keys = []
    for end in ("low", "high"):  # a trial at either corner of the space is a valid config
        trial = compose(["experiment=smollm2_merge", f"+search={name}", *(p.override(getattr(p, end)) for p in space)])
        validate(trial)
        keys.append(step_keys(build_graph(trial)))
    assert keys[0]["sft"] == keys[1]["sft"] and keys[0]["merge"] != keys[1]["merge"]


@pytest.mark.slurm
def test_trials_run_as_slurm_jobs_through_the_submitit_launcher(tmp_path, slurm_cluster):
    """hydra/launcher=slurm_h100 on the local node (its GPU and size settings lowered to fit): a batch
    of two trials is two Slurm jobs at once, and their objectives come back from the jobs' runs."""
    proc = run(tmp_path, "hydra.sweeper.n_trials=2", "hydra.sweeper.batch_size=2", "logger=none",
               "hydra/launcher=slurm_h100", "cluster=local_slurm", "hydra.launcher.gpus_per_node=0",
               "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=4", "hydra.launcher.timeout_min=30")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    summary = json.loads((tmp_path / "s" / "search.json").read_text())
    assert [t["state"] for t in summary["trials"]] == ["COMPLETE", "COMPLETE"]
    assert len(list((tmp_path / "s" / ".submitit").glob("*/*_log.out"))) == 2  # one job per trial
    for t in summary["trials"]:
        metrics = results(tmp_path, t)["metrics"]
        assert t["values"] == [metrics[m] for m in OBJECTIVES]
