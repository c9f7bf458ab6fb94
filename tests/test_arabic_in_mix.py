"""An Arabic source in the translated mix (`lang: ar` under data.corpus) is mixed in as it is: one
config entry, neither translated nor gated, in its place in the mix; every other corpus keeps its key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict
from planned import Planned

from hala_exp.config import ConfigError, compose, validate
from hala_exp.config.schema.sources import SourceConfig
from hala_exp.pipeline.execute import execute
from hala_exp.pipeline.store import Store
from hala_exp.plan.compiler import compile_plan

# what a data option's YAML adds under `corpus:` (merged as a file would be)
ARABIC = {"path": "samples:tatoeba_ara_eng/sample.tsv", "format": "tsv", "adapter": "instruction", "id_field": None,
          "instruction_field": "ar", "response_field": "ar", "rows": 2, "offset": 0, "lang": "ar"}
SMALL = ["data.corpus.orca.rows=6", "data.corpus.orca_tail.rows=2", "translator.max_new_tokens=4",
         "engine.device=cpu", "engine.temperature=0"]


def with_source(cfg, lang: str = "ar"):
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg.data.corpus):
        cfg.data.corpus["arabic_rows"] = OmegaConf.structured(SourceConfig(**{**ARABIC, "lang": lang}))
    return cfg


def test_arabic_rows_pass_as_they_are_in_mix_order(tiny_llama: Path, tmp_path: Path):
    cfg = with_source(compose([f"store={tmp_path / 'store'}", *SMALL]))
    plan = compile_plan(cfg, tracking=False)
    p = Planned(cfg, {s.name: s for s in plan.steps}, plan.keys, Store(cfg.store))
    for name in p.steps:
        if name.startswith("source.corpus."):
            execute(p.spec(name))
    spec = p.spec("translate_corpus")
    spec["inputs"]["model"] = str(tiny_llama)  # the tiny translator stands in for the fine-tuned one
    record, ran = execute(spec)
    assert ran and record["metrics"]["rows_as_is"] == 2.0 and record["metrics"]["rows.arabic_rows"] == 2.0
    out = p.store.path("translate_corpus", spec["key"])
    rows = [json.loads(line) for line in (out / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    arabic = [r for r in rows if r["source"] == "arabic_rows"]
    assert len(arabic) == 2 and all(r["as_is"] and r["instr_en"] is None for r in arabic)
    assert all(r["messages"][0]["content"] == r["instr_ar"] and any("\u0600" <= c <= "\u06ff" for c in r["instr_ar"])
               for r in arabic)
    assert not any(r["source"] == "arabic_rows" for r in rejected)  # never gated
    mix = [(r["source"], r["id"]) for r in _mix_rows(out)]
    kept = [(r["source"], r["id"]) for r in rows]
    assert kept == [k for k in mix if k in set(kept)]  # the mix's order, Arabic rows in their places
    assert len(rows) + len(rejected) == len(mix) == 10  # 2 of 10: the Arabic share asked for


def _mix_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(out / "mix.parquet").to_pylist()


def test_an_arabic_source_moves_only_its_corpus_key_and_is_refused_with_arabic_ratio(tmp_path: Path):
    cfg = compose([f"store={tmp_path}"])
    base, english, arabic = (compile_plan(c).keys for c in (cfg, with_source(cfg, "en"), with_source(cfg)))
    assert english["translate_corpus"] != arabic["translate_corpus"] != base["translate_corpus"]
    assert {n for n in base if base[n] != arabic.get(n)} == {n for n in base if base[n] != english.get(n)}
    with pytest.raises(ConfigError, match=r"data\.mix\.arabic_ratio = 0\.5: .*\['arabic_rows'\].* Fix: "):
        validate(with_source(compose(["data.mix.arabic_ratio=0.5", "data.mix.total_rows=100"])), check_data=False)
