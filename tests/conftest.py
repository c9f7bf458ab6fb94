"""Shared fixtures: tiny models built in code, caches kept out of ~/.cache."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from hala_exp.data.samples_text import sample_texts


@pytest.fixture(autouse=True, scope="session")
def _offline_caches(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    for var in ("HF_HOME", "HF_DATASETS_CACHE", "WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR",
                "XDG_CACHE_HOME"):
        os.environ.setdefault(var, str(cache / var.lower()))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    yield


def _build(path: Path, arch: str, seed: int) -> Path:
    from hala_exp.models.tiny import save_tiny

    save_tiny(path, arch=arch, texts=sample_texts(), vocab_size=512, hidden_size=32, layers=2,
              heads=2, intermediate_size=64, max_position=512, seed=seed)
    return path


@pytest.fixture(scope="session")
def tiny_lfm2(tmp_path_factory) -> Path:
    """A random tiny LFM2 (real architecture) with a locally trained Arabic/English tokenizer."""
    return _build(tmp_path_factory.mktemp("lfm2"), "lfm2", seed=0)


@pytest.fixture(scope="session")
def tiny_lfm2_other(tmp_path_factory) -> Path:
    """A second tiny LFM2 with the same tokenizer and shapes but other weights (for merges)."""
    return _build(tmp_path_factory.mktemp("lfm2b"), "lfm2", seed=1)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("llama"), "llama", seed=0)


@pytest.fixture(scope="session")
def tiny_llama_other(tmp_path_factory) -> Path:
    """A second tiny Llama, same tokenizer and shapes, other weights."""
    return _build(tmp_path_factory.mktemp("llamab"), "llama", seed=1)


SLURM_SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "slurm"


def _slurm_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    return ping.returncode == 0 and "UP" in ping.stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running Slurm cluster: the one already up, or the local one-node cluster started here
    (scripts/slurm/start.sh, as root) and stopped at the end. Never a skip: a Slurm test that
    cannot reach a cluster fails and says how to get one."""
    if _slurm_up():
        yield
        return
    if os.geteuid() != 0:
        pytest.fail("no Slurm cluster is running and starting the local one needs root: run "
                    "`sudo scripts/slurm/start.sh`, or deselect these tests with -m 'not slurm'")
    start = subprocess.run([str(SLURM_SCRIPTS / "start.sh")], capture_output=True, text=True, check=False)
    if start.returncode != 0:
        pytest.fail(f"scripts/slurm/start.sh failed:\n{start.stdout[-2000:]}\n{start.stderr[-2000:]}")
    try:
        yield
    finally:
        subprocess.run([str(SLURM_SCRIPTS / "stop.sh")], capture_output=True, check=False)


@pytest.fixture(scope="session")
def second_env(tmp_path_factory) -> Path:
    """A real second virtual environment: its own interpreter, seeing this one's packages via a .pth."""
    root = tmp_path_factory.mktemp("env2") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    (Path(purelib) / "_hala_parent_env.pth").write_text(lines, encoding="utf-8")
    return python



# Under pytest-xdist (`make test` runs two workers): the tests of a module with a module- or
# class-scoped fixture stay in one worker, so the fixture is built once; every Slurm test runs in
# one worker, as they share the one cluster (and its CPUs) and its session fixture stops it; and
# those groups are queued first, the Slurm one before all, so no long group starts last.
SHARED_FIXTURE_MODULES = ("test_allam", "test_distributed_training", "test_pipeline_e2e", "test_quantize",
                          "test_real_model", "test_stop_signals", "test_store_faults", "test_suites", "test_sweep",
                          "test_train_resume_processes")


def _group(item: pytest.Item) -> str | None:
    if item.get_closest_marker("slurm"):
        return "slurm"
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
    return module if module in SHARED_FIXTURE_MODULES else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    groups = {id(item): _group(item) for item in items}
    for item in items:
        if groups[id(item)]:
            item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the same order in every worker, as xdist requires
        items.sort(key=lambda item: 0 if groups[id(item)] == "slurm" else 1 if groups[id(item)] else 2)
