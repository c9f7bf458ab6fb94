"""A full filesystem is named as one: the filesystem, its free space and what the step needed.

On a real small filesystem (a tmpfs this test mounts; skipped where mounting is not allowed): torch's
own writer failing there, and `hala-exp` runs whose store fills at a model write, the step run in
process and as a step process. Before that, the plan's free-space warning and the sizes it adds up.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from planned import planned

from hala_exp.pipeline import disk_space
from hala_exp.stages.sizes import GENERATED_ROW_BYTES

GB = 1e9


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 640 kB tmpfs: the tiny run's source snapshots fit, its first model (1.1 MB) does not."""
    where = tmp_path / "small"
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(where)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _hala(tmp_path: Path, store: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala_exp", f"store={store}", f"hydra.run.dir={tmp_path / 'run'}",
                           "logger=none", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


def test_a_fine_tune_writes_fp32_weights_and_two_checkpoints_a_merge_its_dtype_a_generation_its_rows(tmp_path):
    p = planned(tmp_path, "model.params_b=2", "train.save_steps=4", "merge.dtype=bfloat16")
    assert p.steps["sft"].writes == int(2e9 * (4 + 2 * 12))
    assert p.steps["merge"].writes == int(2e9 * 2)
    assert p.steps["source.bootstrap"].writes is None  # data of unknown size: counted as nothing
    rows = sum(src.rows for name, src in p.cfg.data.corpus.items() if name != p.cfg.data.leave_out)
    assert p.steps["translate_corpus"].writes == rows * GENERATED_ROW_BYTES  # a row count, a size
    assert planned(tmp_path, "data.bootstrap.rows=10").steps["translate_bootstrap"].writes == 10 * 8_000
    assert planned(tmp_path, "train.save_steps=0", "model.params_b=2").steps["sft"].writes == int(2e9 * 4)
    assert planned(tmp_path).steps["sft"].writes is None  # a tiny model states no size


def test_plan_warns_when_the_store_cannot_hold_what_the_run_will_write(tmp_path):
    store = tmp_path / "store"
    huge = _hala(tmp_path, store, "plan=true", "model.params_b=100000")  # 100T parameters: no disk holds that
    assert huge.returncode == 0, huge.stderr
    warning = next(line for line in huge.stdout.splitlines() if line.startswith("warning:"))
    room = disk_space.room(store)
    assert f"is on {room.mount} with" in warning and "free" in warning
    assert "expected to write about" in warning and "Fix: free space there, or set store=" in warning
    fits = _hala(tmp_path, store, "plan=true")
    assert fits.returncode == 0 and "warning:" not in fits.stdout


def test_enospc_anywhere_in_the_cause_chain_is_a_full_disk(tmp_path):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "x.safetensors")
        except OSError as inner:
            raise RuntimeError("safetensors: failed to write") from inner
    except RuntimeError as e:
        full = disk_space.diagnose(e, tmp_path, "sft", int(3e9))
    assert full is not None and "step sft" in str(full) and "3.0 GB" in str(full)
    assert disk_space.diagnose(ValueError("a bad value"), tmp_path, "sft", None) is None  # room to spare


def test_torchs_own_writer_error_on_a_full_filesystem_is_named_as_one(small_fs):
    try:
        torch.save(torch.zeros(1_000_000), small_fs / "weights.pt")  # 4 MB onto 640 kB
    except Exception as e:  # noqa: BLE001 (whatever torch raises: that is the point)
        error = e
    else:
        pytest.fail("4 MB fit on a 640 kB filesystem")
    full = disk_space.diagnose(error, small_fs, "sft", int(4e6))
    assert full is not None, f"not seen as a full disk: {type(error).__name__}: {error}"
    text = str(full)
    assert f"the filesystem {small_fs} (store {small_fs})" in text and "free of" in text and "about 4.0 MB" in text
    assert "Fix: free space on" in text


@pytest.mark.slow
@pytest.mark.parametrize("where", ["in_process", "step_process"])
def test_a_run_whose_store_fills_says_so_and_leaves_nothing_that_looks_complete(tmp_path, small_fs, where):
    store = small_fs / "store"
    args = ["teacher.params_b=0.0003"]  # the tiny teacher's size, stated: 1.2 MB in float32
    if where == "step_process":  # the step in another interpreter, as an environment of its own runs it
        other = Path(sys.executable).with_name("python3" if Path(sys.executable).name != "python3" else "python")
        args.append(f"++runtime.stages.build_model={other}")
    proc = _hala(tmp_path, store, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out, out
    assert f"expected to write about {disk_space.size(0.0003 * GB * 4)}" in out, out  # the plan's warning too
    assert f"step build.teacher: the filesystem {small_fs} (store {store})" in out and "free of" in out, out
    assert "Fix: free space on" in out, out
    assert not (store / "build.teacher").exists()  # nothing committed
    assert not [p for p in (store / ".tmp").iterdir()] if (store / ".tmp").exists() else True
