"""Hub models and datasets a run reads are checked before its first step, online and offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hala_exp.config import ConfigError, compose
from hala_exp.plan.checks import check_reachable as _check_plan_reachable
from hala_exp.plan.checks import run_refs as _plan_refs
from hala_exp.plan.compiler import compile_plan


def check_reachable(cfg):
    _check_plan_reachable(compile_plan(cfg))


def run_refs(cfg):
    return _plan_refs(compile_plan(cfg))


def test_the_refs_are_the_runs_model_inputs_and_hub_sources(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    refs = run_refs(compose(["model.id=someorg/some-model", "data.parallel.path=someorg/pairs",
                             "data.parallel.format=hub"]))
    assert {(r.repo, r.repo_type) for r in refs} == {("someorg/some-model", "model"), ("someorg/pairs", "dataset")}
    assert {r.key for r in refs if r.repo_type == "dataset"} == {"data.parallel"}
    assert run_refs(compose()) == []  # the tiny run reads nothing from the hub


def test_offline_an_uncached_model_is_refused_naming_the_step_input_and_the_fix(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"input 'model'.*model 'someorg/no-such-model' is not in the local "
                                          r"cache.*hf download someorg/no-such-model"):
        check_reachable(compose(["model.id=someorg/no-such-model"]))
    with pytest.raises(ConfigError, match=r"data\.bootstrap: dataset 'someorg/rows' is not in the local cache"
                                          r".*--repo-type dataset"):
        check_reachable(compose(["data.bootstrap.path=someorg/rows", "data.bootstrap.format=hub"]))


def test_offline_a_cached_model_passes(monkeypatch, tmp_path):
    from huggingface_hub import constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someorg--cached-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    (repo / "snapshots" / sha).mkdir(parents=True)
    (repo / "snapshots" / sha / "config.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    check_reachable(compose(["model.id=someorg/cached-model"]))


def test_a_missing_local_tokenizer_path_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"fertility input 'tok\.other': local path .*absent.* does not exist"):
        check_reachable(compose(["experiment=allam_tiny", f"+allam.fertility.tokenizers.other={tmp_path}/absent"]))


def test_an_unreachable_hub_fails_the_run_in_seconds_before_any_step(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hala_exp.cli", f"store={tmp_path / 'store'}",
                           "model.id=someorg/some-model", "eval.lighteval.tasks=[]",  # no task check: this one
                           f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "hub (http://127.0.0.1:9) cannot be reached" in proc.stderr and "HF_HUB_OFFLINE=1" in proc.stderr
    assert time.monotonic() - started < 60
    store = tmp_path / "store"
    assert not store.exists() or {p.name for p in store.iterdir()} <= {".registry"}  # file hashes only, no step
