"""The mix builder: determinism, de-duplication, caps and weights, the Arabic/English ratio, counts."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from hala_exp.config import ConfigError, compose, validate
from hala_exp.config.schema import MixConfig, SourceConfig
from hala_exp.data.corpus import build_corpus_mix
from hala_exp.data.mix import MixSource, build_mix, normalize, weighted_caps

FIX = Path(__file__).parent / "fixtures" / "sources"


def rows(name: str, n: int, lang: str = "en", start: int = 0) -> list[dict]:
    return [{"id": f"{name}-{i}", "source": name, "lang": lang,
             "messages": [{"role": "user", "content": f"question {i} of {name}"},
                          {"role": "assistant", "content": f"answer {i}"}]} for i in range(start, start + n)]


def ids(path: Path) -> list[str]:
    return pq.read_table(path, columns=["id"]).column("id").to_pylist()


def build(tmp: Path, name: str, sources: list[MixSource], **kw) -> tuple[list[str], dict]:
    counts = build_mix(sources, tmp / f"{name}.parquet", **{"seed": 0, "bucket_rows": 7, **kw})
    return ids(tmp / f"{name}.parquet"), counts.as_dict()


def test_same_config_same_rows_in_the_same_order_and_seed_changes_order(tmp_path):
    def srcs():
        return [MixSource("a", rows("a", 30)), MixSource("b", rows("b", 25))]
    first, c1 = build(tmp_path, "one", srcs())
    again, c2 = build(tmp_path, "two", srcs())
    other, _ = build(tmp_path, "three", srcs(), seed=1)
    assert first == again and c1 == c2
    assert sorted(first) == sorted(other) and first != other
    assert len(first) == 55 and first != [r["id"] for r in rows("a", 30) + rows("b", 25)]  # shuffled
    assert not list(tmp_path.glob("*.parts")) and not list(tmp_path.glob("*.partial"))


def test_unshuffled_mix_keeps_source_order_across_buckets(tmp_path):
    out, _ = build(tmp_path, "ordered", [MixSource("a", rows("a", 20)), MixSource("b", rows("b", 5))],
                   shuffle=False)
    assert out == [r["id"] for r in rows("a", 20) + rows("b", 5)]


def test_exact_and_normalized_dedup(tmp_path):
    a = rows("a", 3)
    b = [dict(r, id=f"b-{i}", source="b") for i, r in enumerate(a[:2])]  # exact copies of a-0, a-1
    b[1]["messages"] = [{"role": "user", "content": "  QUESTION 1 of a?"}, {"role": "assistant", "content": "Answer 1!"}]
    out, counts = build(tmp_path, "norm", [MixSource("a", a), MixSource("b", b)], dedup="normalized")
    assert sorted(out) == ["a-0", "a-1", "a-2"] and counts["sources"]["b"]["duplicate_normalized"] == 2
    out, counts = build(tmp_path, "exact", [MixSource("a", a), MixSource("b", b)], dedup="exact")
    assert sorted(out) == ["a-0", "a-1", "a-2", "b-1"] and counts["sources"]["b"]["duplicate_exact"] == 1
    out, _ = build(tmp_path, "none", [MixSource("a", a), MixSource("b", b)], dedup="none")
    assert len(out) == 5
    assert normalize("  Hello,   WORLD! ") == normalize("hello world")


def test_caps_read_a_source_only_as_far_as_needed(tmp_path):
    pulled = []

    def gen():
        for r in rows("a", 100):
            pulled.append(r["id"])
            yield r
    out, counts = build(tmp_path, "cap", [MixSource("a", gen(), cap=10), MixSource("b", rows("b", 4), cap=None)])
    assert sorted(out) == sorted([f"a-{i}" for i in range(10)] + [f"b-{i}" for i in range(4)])
    assert len(pulled) == 10 and counts["sources"]["a"]["stopped_at_cap"] == 1


def test_weighted_caps_sum_to_the_total():
    assert weighted_caps({"a": 1, "b": 1, "c": 1}, 10) == {"a": 4, "b": 3, "c": 3}
    assert sum(weighted_caps({"a": 0.45, "b": 0.55}, 4_500_000).values()) == 4_500_000


def test_corpus_mix_from_config_counts_every_source(tmp_path):
    corpus = OmegaConf.create({
        name: OmegaConf.merge(OmegaConf.structured(SourceConfig),
                              {"path": str(FIX / file), "adapter": name, "format": fmt, "rows": 100, **kw})
        for name, file, fmt, kw in [
            ("hermes3", "hermes3.jsonl", "jsonl", {"drop_code": True}),
            ("lamini", "lamini.parquet", "parquet", {}),
            ("realign_alpaca", "realign_alpaca.json", "json", {}),
            ("tulu3", "tulu3.parquet", "parquet", {"exclude_subsets": ["ai2-adapt-dev/tulu_v3.9_aya_100k"],
                                                   "min_english_ratio": 0.9})]})
    mix = OmegaConf.structured(MixConfig)
    m = build_corpus_mix(corpus, mix, 0, tmp_path)
    assert m["source.hermes3.dropped.code"] == 4 and m["source.tulu3.dropped.non_english_subset"] == 2
    assert m["mix.lamini.duplicate_normalized"] == 1 and m["mix.realign_alpaca.duplicate_normalized"] == 1
    assert m["mix.rows"] == 4 + 3 + 4 + 4 == len(ids(tmp_path / "mix.parquet"))
    assert (tmp_path / "counts.json").is_file()
    corpus.lamini.weight, corpus.hermes3.weight = 1.0, 1.0
    corpus.realign_alpaca.weight, corpus.tulu3.weight = 1.0, 1.0
    mix.total_rows = 8
    m = build_corpus_mix(corpus, mix, 0, tmp_path)
    assert m["mix.rows"] == 8 and all(m[f"mix.{n}.out"] == 2 for n in corpus)


def test_bad_mix_settings_fail_at_validation():
    with pytest.raises(ConfigError, match="data.mix.arabic_ratio"):
        validate(compose(["data.mix.arabic_ratio=1.5"]))
    with pytest.raises(ConfigError, match="data.mix.total_rows"):
        validate(compose(["data.corpus.orca.weight=0.5"]))
    with pytest.raises(ConfigError, match="data.corpus.orca.adapter"):
        validate(compose(["data.corpus.orca.adapter=orca"]))
    with pytest.raises(ConfigError, match="data.gates.min_length_ratio"):
        validate(compose(["data.gates.min_length_ratio=25"]))


def test_hala_data_lists_the_seven_sources_and_opus():
    cfg = compose(["data=hala"])
    validate(cfg)
    assert {s.path for s in cfg.data.corpus.values()} == {
        "Open-Orca/OpenOrca", "NousResearch/Hermes-3-Dataset", "EricLu/SCP-116K", "GAIR/ReAlign-Alpaca",
        "Dahoas/synthetic-instruct-gptj-pairwise", "MBZUAI/LaMini-instruction", "allenai/tulu-3-sft-mixture"}
    assert cfg.data.corpus.hermes3.drop_code and cfg.data.corpus.tulu3.exclude_subsets
    assert cfg.data.parallel.adapter == "opus100" and cfg.data.parallel.subset == "ar-en"


def test_arabic_rows_picks_exactly_the_share_with_a_seed():
    from hala_exp.data.mix import arabic_rows

    assert arabic_rows(10, None, 0).all() and arabic_rows(10, 1.0, 0).all()
    assert not arabic_rows(10, 0.0, 0).any()
    half = arabic_rows(101, 0.5, 7)
    assert half.sum() == 50 and (half == arabic_rows(101, 0.5, 7)).all()
    assert (half != arabic_rows(101, 0.5, 8)).any()


def test_sft_rows_train_the_other_share_on_their_english_originals():
    from hala_exp.data.mix import arabic_rows
    from hala_exp.stages.sft import training_rows

    corpus = [{"instr_en": f"Question {i}?", "resp_en": f"Answer {i}.", "instr_ar": f"سؤال {i}؟",
               "resp_ar": f"جواب {i}."} for i in range(40)]
    arabic = arabic_rows(len(corpus), 0.25, 0)
    rows = list(training_rows(corpus, arabic))
    assert len(rows) == 40 and arabic.sum() == 10
    for row, src, ar in zip(rows, corpus, arabic):
        want = (src["instr_ar"], src["resp_ar"]) if ar else (src["instr_en"], src["resp_en"])
        assert (row["prompt"][0]["content"], row["completion"][0]["content"]) == want


def test_sft_streams_the_corpus_into_a_memory_mapped_dataset(tmp_path, monkeypatch):
    """Every rank of a multi-GPU SFT reads the corpus: as Arrow files the trainer memory-maps, never
    as a list of every row; the rows are those of `training_rows`, and the Arrow copy goes afterwards."""
    from hala_exp.data.mix import arabic_rows
    from hala_exp.json_files import read_jsonl, write_jsonl
    from hala_exp.stages import sft

    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(corpus, [{"instr_en": f"Question {i}?", "resp_en": f"Answer {i}.",
                          "instr_ar": f"سؤال {i}؟" if i % 7 else "", "resp_ar": f"جواب {i}."} for i in range(60)])
    seen: dict = {}

    def trainer(model, rows, out, hyper, train, checkpoints=None):  # the trainer's side: what it is handed
        seen["files"] = [Path(f["filename"]) for f in rows.cache_files]
        seen["rows"] = rows.to_list()
        return {"rows": float(len(rows))}

    monkeypatch.setattr(sft, "train_sft", trainer)
    cfg = OmegaConf.create({"arabic_ratio": 0.5, "seed": 3, "train": {}, "options": {"micro_batch": 2},
                            "model": {"learning_rate": 1e-3, "global_batch": 2, "max_length": 64}})
    out = tmp_path / "work" / "sft"
    out.mkdir(parents=True)
    metrics = sft.run(cfg, {"corpus": str(corpus), "model": "unused"}, out)
    assert seen["files"] and all(f.is_relative_to(out.parent) for f in seen["files"])
    usable = list(sft.usable(read_jsonl(corpus)))
    assert seen["rows"] == list(sft.training_rows(usable, arabic_rows(len(usable), 0.5, 3)))
    assert len(usable) == 51 and metrics["rows_arabic"] + metrics["rows_english"] == 51
    assert metrics["rows_with_arabic"] == 51 and not any(f.exists() for f in seen["files"])
