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



# Under pytest-xdist (`make test` runs two workers, `--dist loadscope`), the scheduler below keeps
# together what must not be split: every Slurm test in one worker, as they share the one cluster
# (and its CPUs) and the session fixture that stops it; the tests of a module with a module- or
# class-scoped fixture in one worker, so the fixture is built once. Every other test is scheduled
# on its own. Each worker queues the Slurm tests first, then those modules, so no long group
# starts last. (xdist's own `loadgroup` marks do not reach its scheduler under pytest 9.)
SHARED_FIXTURE_MODULES = ("test_allam", "test_distributed_training", "test_pipeline_e2e", "test_quantize",
                          "test_real_model", "test_stop_signals", "test_store_faults", "test_suites", "test_sweep",
                          "test_train_resume_processes", "test_vllm_pipeline")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One OpenMP pool per worker: pools that together outnumber the cores spin against each other
    # (a tiny pipeline run took 8x its CPU time that way). Each worker gets its share of the cores.
    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


def _group(nodeid: str) -> str | None:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    if module.startswith("test_slurm"):
        return "slurm"
    return module if module in SHARED_FIXTURE_MODULES else None


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Groups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid) or nodeid

    return Groups(config, log)


# Time limits of the marked tests (pytest-timeout; every other test has pyproject.toml's 600 s). The
# slowest tests (real-model and vLLM pipelines) take about 7 minutes alone: 1800 s leaves room for a
# loaded two-core machine and matches the longest limit those tests put on their own subprocesses.
MARKED_TIMEOUT_S = {"slow": 1800, "slurm": 1800, "gpu": 3600}


def _limit(config, item) -> None:
    if item.get_closest_marker("timeout") is not None or config.getoption("timeout", None) is not None:
        return  # the test's own limit, or one given on the command line for all
    limits = [s for mark, s in MARKED_TIMEOUT_S.items() if item.get_closest_marker(mark) is not None]
    if limits:
        item.add_marker(pytest.mark.timeout(max(limits)))


def pytest_collection_modifyitems(config, items):
    for item in items:
        _limit(config, item)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the same order in every worker, as xdist requires
        rank = {"slurm": 0}
        items.sort(key=lambda item: rank.get(_group(item.nodeid), 1 if _group(item.nodeid) else 2))
