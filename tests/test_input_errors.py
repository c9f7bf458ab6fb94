"""Every bad input is refused with a sentence (key, value, fix), through the `hala-exp` command, no traceback.

One test (or parametrised set) per class: data file encodings, paths of the wrong kind, store and
run directories that cannot be written, merge and engine values outside their upstream domains,
and text columns holding something else. All but two stop at validation (`plan=true`, exit 2);
those two run only the source's snapshot step, which reads every row (exit 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hala_exp.data.paths import resolve_path

ORCA = resolve_path("samples:orca_style/sample.jsonl")
SCRIPT = Path(sys.executable).with_name("hala-exp")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hala_exp.cli"]


def hala_exp(tmp_path: Path, *overrides: str, plan: bool = True) -> tuple[int, str]:
    """Exit status and output (stdout, then stderr) of `hala-exp` with a store and run directory in tmp_path."""
    args = [*COMMAND, *(["plan=true"] if plan else []), f"store={tmp_path / 'store'}",
            f"hydra.run.dir={tmp_path / 'run'}", *overrides]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def refused(result: tuple[int, str], status: int, *parts: str) -> str:
    code, out = result
    assert code == status, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    for part in parts:
        assert part in out, f"{part!r} not in:\n{out[-3000:]}"
    assert "Fix:" in out
    return out


# --- encodings ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("codec", "name", "family"), [
    ("utf-16", "UTF-16LE", "UTF-16"), ("utf-16-be", "UTF-16BE", "UTF-16"), ("utf-32", "UTF-32LE", "UTF-32")])
def test_a_utf16_or_utf32_file_is_named_with_its_iconv_fix(tmp_path, codec, name, family):
    path = tmp_path / "orca.jsonl"
    text = ORCA.read_text(encoding="utf-8")
    path.write_bytes(("\ufeff" + text).encode(codec) if codec.endswith("-be") else text.encode(codec))
    refused(hala_exp(tmp_path, f"data.bootstrap.path={path}"), 2,
            f"data.bootstrap.path = '{path}'", f"is {name} text", f"{family} byte-order mark",
            f"Fix: convert it, e.g. `iconv -f {family} -t UTF-8 orca.jsonl > orca.utf8.jsonl`")


def test_other_bytes_that_are_not_utf8_are_named_by_line_and_byte(tmp_path):
    lines = ORCA.read_bytes().splitlines(keepends=True)
    path = tmp_path / "latin1.jsonl"
    bad = b'{"id": "x", "system_prompt": "", "question": "caf\xe9", "response": "r"}\n'
    path.write_bytes(b"".join(lines[:3]) + bad)
    offset = len(b"".join(lines[:3])) + bad.index(b"\xe9")
    refused(hala_exp(tmp_path, f"data.bootstrap.path={path}"), 2,
            f"data.bootstrap.path = '{path}'", f"is not UTF-8 (line 4, byte {offset}", "Fix: re-encode it", "iconv")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + ORCA.read_bytes())
    code, out = hala_exp(tmp_path, f"data.bootstrap.path={path}", "targets=[source.bootstrap]", plan=False)
    assert code == 0, out[-3000:]
    counts = json.loads(next((tmp_path / "store").glob("**/counts.json")).read_text())
    assert counts["kept"] > 0 and counts["dropped"] == {}  # the first row's "id" column is read as such


# --- paths of the wrong kind ----------------------------------------------------------------------

def test_a_directory_where_a_data_file_is_expected(tmp_path):
    refused(hala_exp(tmp_path, f"data.bootstrap.path={tmp_path}"), 2,
            f"data.bootstrap.path = '{tmp_path}'", "is a directory, and a data file is expected here",
            "Fix: point it at one file inside it")


def test_a_file_where_a_model_directory_is_expected(tmp_path):
    refused(hala_exp(tmp_path, f"teacher.id={ORCA}"), 2,
            f"teacher.id = '{ORCA}'", "is a file, and a directory is expected here",
            f"Fix: point it at the directory that holds it ({ORCA.parent})")


# --- store and run directories --------------------------------------------------------------------

def test_a_store_that_cannot_be_created_is_refused_before_any_step(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store's parent should be\n")
    out = refused(hala_exp(tmp_path, f"store={blocker / 'store'}", plan=False), 2,
                  f"store = '{blocker / 'store'}'", f"{blocker} is a file, and a directory is expected here",
                  "Fix: point it at a directory")
    assert "running" not in out and not (tmp_path / "run" / "steps.json").exists()


def test_a_store_that_cannot_be_written_is_refused(tmp_path):
    """Permission bits for a user; for root, whom they do not bind, a read-only filesystem."""
    locked = tmp_path / "locked"
    locked.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(locked)],
                                 capture_output=True, text=True)
        if mounted.returncode != 0:
            pytest.skip(f"as root only a read-only filesystem refuses writes, and none can be mounted here: "
                        f"{mounted.stderr.strip()}")
    else:
        locked.chmod(0o555)
    try:
        refused(hala_exp(tmp_path, f"store={locked / 'store'}"), 2, f"store = '{locked / 'store'}'",
                "cannot be written in", "read-only filesystem" if as_root else "chmod u+w")
    finally:
        if as_root:
            subprocess.run(["umount", "-l", str(locked)], check=False)
        else:
            locked.chmod(0o755)


@pytest.mark.parametrize(("key", "flags"), [("hydra.run.dir", ()), ("hydra.sweep.dir", ("-m", "merge.t=0.3,0.5"))])
def test_a_run_or_sweep_directory_that_cannot_be_created_is_refused(tmp_path, key, flags):
    blocker = tmp_path / "blocker"
    blocker.write_text("x\n")
    refused(hala_exp(tmp_path, *flags, f"{key}={blocker / 'run'}"), 2,
            f"{key} = '{blocker / 'run'}'", "is a file, and a directory is expected here", "Fix:")


# --- merge and engine values outside their domains ------------------------------------------------

@pytest.mark.parametrize(("overrides", "parts"), [
    (("merge=ties", "merge.tuned.density=1.5"),
     ("merge.tuned.density = 1.5", "a number in [0, 1] (mergekit's definition)", "Fix: set merge.tuned.density=0.5")),
    (("merge=della", "merge.tuned.epsilon=0.6"),
     ("merge.tuned.epsilon = 0.6", "density +/- epsilon, which must lie in (0, 1)", "Fix: set merge.tuned.epsilon=0.25")),
    (("engine.temperature=2.5",),
     ("engine.temperature = 2.5", "a number in [0, 2] (vLLM's definition)", "Fix: set engine.temperature=0.0")),
    (("engine.top_p=0",), ("engine.top_p = 0.0", "a number in (0, 1]", "Fix: set engine.top_p=1.0")),
    (("translator.max_new_tokens=0",),
     ("translator.max_new_tokens = 0", "an integer of at least 1", "Fix: set translator.max_new_tokens=256")),
])
def test_method_and_engine_values_outside_their_domain(tmp_path, overrides, parts):
    refused(hala_exp(tmp_path, *overrides), 2, *parts)


# --- column types ---------------------------------------------------------------------------------

def _orca_with(tmp_path: Path, row: int, question: object) -> Path:
    lines = ORCA.read_text(encoding="utf-8").splitlines()[:6]
    bad = {**json.loads(lines[row]), "question": question}
    lines[row] = json.dumps(bad)
    path = tmp_path / "typed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_number_in_a_text_column_of_the_first_row_is_refused_at_validation(tmp_path):
    path = _orca_with(tmp_path, 0, 42)
    refused(hala_exp(tmp_path, f"data.bootstrap.path={path}"), 2,
            f"data.bootstrap.path = '{path}'", "row 0, column 'question' holds int 42, not text",
            "Fix: make every value of column 'question' a string (in JSON, quote it: \"42\")")


def test_a_non_text_value_in_a_later_row_stops_the_snapshot_naming_the_row(tmp_path):
    path = _orca_with(tmp_path, 3, [1, 2])
    out = refused(hala_exp(tmp_path, f"data.bootstrap.path={path}", "targets=[source.bootstrap]", plan=False), 1,
                  "step source.bootstrap failed", f"data.bootstrap.path = '{path}'", "data source 'bootstrap'",
                  "row 3, column 'question' holds list [1, 2], not text",
                  "Fix: make every value of column 'question' a string")
    assert "--- last" not in out  # an input error: the message alone, the traceback stays in the log


def test_a_reader_that_no_check_ran_before_says_the_same_sentence(tmp_path):
    """E.g. the aligned MMLU files, read by the evaluation: a bad byte past validation's first megabyte."""
    from omegaconf import OmegaConf

    from hala_exp.console.failure import input_error
    from hala_exp.data.files import HEAD_BYTES, UnreadableFile
    from hala_exp.data.sources import iter_local

    path = tmp_path / "late.jsonl"
    row = ORCA.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(row * (HEAD_BYTES // len(row) + 1) + b'{"question": "\xff"}\n')
    with pytest.raises(UnreadableFile) as err:
        list(iter_local(OmegaConf.create({"path": str(path), "format": "jsonl"})))
    assert "is not UTF-8 (line" in str(err.value) and "Fix: re-encode it" in str(err.value)
    assert input_error(f"hala_exp.data.files.UnreadableFile: {err.value}") == str(err.value)  # shown alone


def test_a_number_in_a_text_source_field_is_refused_at_validation(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": 7}\n{"text": "نص"}\n', encoding="utf-8")
    key = "allam.fertility.texts.code"  # a text source of the ALLaM recipe: a jsonl file's `text` field
    refused(hala_exp(tmp_path, "experiment=allam_tiny", f"{key}.path={path}", f"{key}.offset=0"),
            2, f"{key}.path = '{path}'", "row 0, column 'text' holds int 7, not text",
            "Fix: make every value of column 'text' a string")
