"""Source snapshots: every row checked before any model step, keys that follow the file's content."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from graph_walk import descendants
from omegaconf import OmegaConf

from hala_exp.config import compose
from hala_exp.config.schema import ParallelSourceConfig, PreferenceSourceConfig, SourceConfig, TextSourceConfig
from hala_exp.data.paths import resolve_path
from hala_exp.data.snapshot import SourceError, first_bad_utf8, load_snapshot, snapshot_texts, write_snapshot
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import Ref, step_keys

ORCA = resolve_path("samples:orca_style/sample.jsonl")
TATOEBA = resolve_path("samples:tatoeba_ara_eng/sample.tsv")


def src(schema, **kw):
    return OmegaConf.merge(OmegaConf.structured(schema), kw)


def orca(path: Path, **kw):
    return src(SourceConfig, **{"path": str(path), "adapter": "openorca", "format": "jsonl", "rows": 1000, **kw})


def test_each_kind_snapshots_to_its_normal_form_with_counts(tmp_path):
    kinds = {
        "chat": orca(ORCA, rows=10),
        "parallel": src(ParallelSourceConfig, path=str(TATOEBA), format="tsv", rows=10),
        "text": src(TextSourceConfig, path=str(TATOEBA), format="tsv", fields=["ar", "en"], rows=5),
        "preferences": src(PreferenceSourceConfig, path="samples:preference_pairs/sample.jsonl", format="jsonl",
                           rows=4),
    }
    columns = {"chat": ["id", "source", "lang", "messages"], "parallel": ["id", "source", "ar", "en"],
               "text": ["text"], "preferences": ["prompt", "chosen", "rejected"]}
    for kind, s in kinds.items():
        out = tmp_path / kind
        out.mkdir()
        metrics = write_snapshot(kind, s, "src", f"test.{kind}", out)
        table = pq.read_table(out / "rows.parquet")
        assert table.column_names == columns[kind]
        assert metrics["rows.kept"] == table.num_rows > 0
        assert json.loads((out / "counts.json").read_text())["kept"] == table.num_rows
    assert len(snapshot_texts(tmp_path / "text" / "rows.parquet")) == 10  # two fields of five rows
    assert load_snapshot(tmp_path / "chat" / "rows.parquet")[0]["source"] == "src"


def test_a_duplicate_id_is_refused_naming_the_id_both_rows_and_the_fix(tmp_path):
    lines = ORCA.read_text(encoding="utf-8").splitlines()[:5]
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    first_id = json.loads(lines[1])["id"]
    with pytest.raises(SourceError, match=rf"data\.bootstrap: id '{first_id}' appears twice .*rows 1 and 5.*"
                                          r"id_field=null"):
        write_snapshot("chat", orca(dup), "bootstrap", "data.bootstrap", tmp_path)


def test_a_source_that_gives_no_rows_is_refused(tmp_path):
    with pytest.raises(SourceError, match=r"data\.parallel: .* gives 0 rows \(rows \[5000, 5064\): 0 read.*offset"):
        write_snapshot("parallel", src(ParallelSourceConfig, path=str(TATOEBA), format="tsv", rows=64, offset=5000),
                       "parallel", "data.parallel", tmp_path)


def test_a_bad_byte_past_the_first_kilobytes_names_line_and_byte(tmp_path):
    data = TATOEBA.read_bytes()
    assert len(data) > 8192
    cut = data.index(b"\n", 9000) + 1
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(data[:cut] + b"\xe4\xec\xe1\tx\n" + data[cut:])  # Windows-1256 Arabic bytes
    line = data[:cut].count(b"\n") + 1
    assert first_bad_utf8(bad) == (line, cut, b"\xe4\xec\xe1\t")
    with pytest.raises(SourceError, match=rf"not UTF-8 \(line {line}, byte {cut}.*iconv"):
        write_snapshot("parallel", src(ParallelSourceConfig, path=str(bad), format="tsv", rows=10_000),
                       "parallel", "data.parallel", tmp_path)


def test_a_missing_column_in_a_later_row_names_the_row(tmp_path):
    rows = [json.loads(x) for x in ORCA.read_text(encoding="utf-8").splitlines()[:8]]
    del rows[6]["question"]
    f = tmp_path / "gap.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(SourceError, match=r"^data\.bootstrap\.path = .*row 6 has no column 'question'"):
        write_snapshot("chat", orca(f), "bootstrap", "data.bootstrap", tmp_path)


def test_a_line_that_is_not_json_names_key_file_and_line(tmp_path):
    lines = ORCA.read_text(encoding="utf-8").splitlines()[:8]
    lines[5] = lines[5][:-3]
    f = tmp_path / "cut.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"^data\.bootstrap\.path = .*cut\.jsonl, line 6: not a JSON object"):
        write_snapshot("chat", orca(f), "bootstrap", "data.bootstrap", tmp_path)


def test_editing_a_local_file_in_place_reruns_exactly_what_reads_it(tmp_path):
    copy = tmp_path / "parallel.tsv"
    shutil.copy(TATOEBA, copy)
    overrides = [f"data.parallel.path={copy}", f"store={tmp_path / 'store'}"]
    steps = build_graph(compose(overrides))
    before = step_keys(steps)
    assert step_keys(build_graph(compose(overrides))) == before  # a second plan hashes nothing new
    text = copy.read_text(encoding="utf-8").splitlines()
    text[3] = text[3].replace("\t", "\t(edited) ", 1)
    copy.write_text("\n".join(text) + "\n", encoding="utf-8")
    after = step_keys(build_graph(compose(overrides)))
    changed = {n for n in before if before[n] != after[n]}
    assert changed == descendants(steps, "source.parallel")
    assert {"source.parallel", "judge", "train_translator", "sft"} <= changed
    assert "translate_bootstrap" not in changed and "build.teacher" not in changed


def test_a_same_size_edit_in_place_changes_the_key(tmp_path):
    """The remembered hash of a file is keyed by more than its path and size: an edit that keeps
    the size (one letter for another, as a typo fix does) must still be read again."""
    copy = tmp_path / "parallel.tsv"
    shutil.copy(TATOEBA, copy)
    overrides = [f"data.parallel.path={copy}", f"store={tmp_path / 'store'}"]
    before = step_keys(build_graph(compose(overrides)))["source.parallel"]  # hashed, and the hash remembered
    data = bytearray(copy.read_bytes())
    at = data.index(b"a")
    data[at:at + 1] = b"b"
    stat = copy.stat()
    with open(copy, "r+b") as f:  # in place: the same inode, the same size
        f.write(data)
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # saved a second later
    assert copy.stat().st_size == stat.st_size and copy.stat().st_ino == stat.st_ino
    assert list((tmp_path / "store" / ".registry" / "hashes").iterdir())  # the cache is there to be misused
    assert step_keys(build_graph(compose(overrides)))["source.parallel"] != before


def test_snapshots_come_first_and_every_source_is_one():
    steps = build_graph(compose(["eval=heldout"]))
    kinds = [s.stage == "snapshot" for s in steps]
    assert kinds == sorted(kinds, reverse=True)  # all snapshots, then everything else
    snaps = {s.name for s in steps if s.stage == "snapshot"}
    assert {"source.bootstrap", "source.parallel", "source.translation", "source.corpus.orca",
            "source.heldout.arabic"} <= snaps
    by = {s.name: s for s in steps}
    assert by["judge"].inputs["source"] == Ref("source.parallel", "rows.parquet")
    assert by["quantize_teacher"].inputs["probe"] == by["evaluate.teacher"].inputs["source"]


@pytest.mark.slow
def test_a_bad_source_stops_the_run_before_any_model_step(tmp_path):
    lines = ORCA.read_text(encoding="utf-8").splitlines()[:6]
    dup = tmp_path / "dup.jsonl"
    dup.write_text("\n".join([*lines, lines[2]]) + "\n", encoding="utf-8")
    store = tmp_path / "store"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hala_exp.cli", f"store={store}", f"data.bootstrap.path={dup}",
                           "targets=[translate_bootstrap]", f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "source.bootstrap" in proc.stderr and "appears twice" in proc.stderr
    assert "Traceback" not in proc.stderr
    steps = json.loads((tmp_path / "run" / "steps.json").read_text())
    status = {s["name"]: s["status"] for s in steps["steps"]}
    assert status["source.bootstrap"] == "failed"
    assert status["build.teacher"] == "not run" and status["translate_bootstrap"] == "not run"
    assert not (store / "build.teacher").exists()


def test_a_hub_source_is_keyed_by_the_commit_its_revision_resolves_to(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from hala_exp.data.content_keys import hub_commit

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    refs = tmp_path / "datasets--someorg--pairs" / "refs"
    refs.mkdir(parents=True)
    overrides = ["data.parallel.path=someorg/pairs", "data.parallel.format=hub", f"store={tmp_path / 'store'}"]

    def keys() -> dict[str, str]:
        hub_commit.cache_clear()
        return step_keys(build_graph(compose(overrides)))

    unresolved = keys()
    (refs / "main").write_text("a" * 40)
    first = keys()
    (refs / "main").write_text("b" * 40)  # the dataset moved on: a new commit on main
    second = keys()
    snap = {s.name: s for s in build_graph(compose(overrides))}["source.parallel"]
    assert snap.config["content"] == {"hub_commit": "b" * 40, "revision": "main"}
    assert unresolved["source.parallel"] != first["source.parallel"] != second["source.parallel"]
    assert {n for n in first if first[n] != second[n]} == descendants(build_graph(compose(overrides)),
                                                                      "source.parallel")
    pinned = overrides + ["data.parallel.revision=" + "c" * 40]
    hub_commit.cache_clear()
    assert {s.name: s for s in build_graph(compose(pinned))}["source.parallel"].config["content"]["hub_commit"] == "c" * 40
