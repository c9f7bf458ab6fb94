"""Each adapter on a fixture with its dataset's real columns: row counts, schema, what is dropped and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hala_exp.config.schema import ParallelSourceConfig, SourceConfig
from hala_exp.data.adapters import Counts, SchemaError, check_columns, iter_chat, iter_parallel, load_instructions
from hala_exp.data.chat import ROLES, first_exchange
from hala_exp.data.code import looks_like_code

FIX = Path(__file__).parent / "fixtures" / "sources"


def source(adapter: str, file: str, **kw) -> OmegaConf:
    fmt = {"parquet": "parquet", "jsonl": "jsonl", "json": "json"}[file.rsplit(".", 1)[1]]
    return OmegaConf.merge(OmegaConf.structured(SourceConfig),
                           {"path": str(FIX / file), "adapter": adapter, "format": fmt, "rows": 100, **kw})


def read(src) -> tuple[list[dict], Counts]:
    counts = Counts()
    return list(iter_chat(src, "src", counts)), counts


def assert_chat_schema(rows: list[dict]) -> None:
    for r in rows:
        assert set(r) == {"id", "source", "lang", "messages"} and r["source"] == "src" and r["lang"] == "en"
        assert isinstance(r["id"], str) and r["id"]
        assert all(set(m) == {"role", "content"} and m["role"] in ROLES for m in r["messages"])
        assert first_exchange(r["messages"]) is not None
    assert len({r["id"] for r in rows}) == len(rows)


def test_openorca_keeps_ids_system_prompts_and_drops_the_empty_response():
    rows, counts = read(source("openorca", "openorca.parquet"))
    assert_chat_schema(rows)
    assert (counts.read, counts.kept, dict(counts.dropped)) == (6, 5, {"empty": 1})
    assert [r["id"] for r in rows] == ["niv.242684", "flan.564327", "t0.1066431", "cot.86217", "niv.54721"]
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]  # empty system prompt left out
    assert rows[1]["messages"][0] == {"role": "system", "content": "You are an AI assistant. You will be "
                                      "given a task. You must generate a detailed and long answer."}


def test_openorca_first_n_rows():
    rows, counts = read(source("openorca", "openorca.parquet", rows=3))
    assert counts.read == 3 and [r["id"] for r in rows] == ["niv.242684", "flan.564327", "t0.1066431"]


def test_hermes3_removes_code_samples_and_counts_them():
    rows, counts = read(source("hermes3", "hermes3.jsonl", drop_code=True))
    assert_chat_schema(rows)
    assert (counts.read, counts.kept, counts.dropped["code"]) == (8, 4, 4)  # fenced python, C, SQL, JS
    assert [r["id"] for r in rows] == ["src-0", "src-4", "src-5", "src-6"]
    assert [m["role"] for m in rows[2]["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert len(rows[1]["messages"]) == 4  # multi-turn kept whole
    kept_all, counts_all = read(source("hermes3", "hermes3.jsonl", drop_code=False))
    assert len(kept_all) == 8 and not counts_all.dropped


@pytest.mark.parametrize("text,is_code", [
    ("Sure:\n```\nls -la\n```", True),
    ("#include <stdio.h>\nint main(void) {\n  return 0;\n}", True),
    ("import os\nimport sys\nprint(os.getcwd())\nreturn x", True),
    ("The tilt of Earth's axis changes how sunlight hits each hemisphere.", False),
    ("Waves fold over waves;\nthe grey sea keeps its secrets;\ngulls write on the wind.", False),
    ("1. Eat well.\n2. Sleep.\n3. Move.", False),
])
def test_code_detection(text, is_code):
    assert looks_like_code(text) is is_code


def test_scp116k_uses_the_configured_solution_and_drops_rows_without_one():
    rows, counts = read(source("scp116k", "scp116k.jsonl", response_field="matched_solution"))
    assert_chat_schema(rows)
    assert (counts.kept, dict(counts.dropped)) == (3, {"empty": 1})
    assert rows[0]["messages"][1]["content"].startswith("Using h = g t^2 / 2")
    o1, _ = read(source("scp116k", "scp116k.jsonl", response_field="o1_solution"))
    assert len(o1) == 4 and o1[2]["messages"][1]["content"] == "The mitochondrion."


def test_realign_alpaca_reads_a_json_array_and_joins_the_input():
    rows, counts = read(source("realign_alpaca", "realign_alpaca.json"))
    assert_chat_schema(rows)
    assert counts.kept == 5
    assert rows[1]["messages"][0]["content"] == "Translate the sentence into Spanish.\n\nI like to read books."
    assert rows[0]["messages"][0]["content"] == "Give three tips for staying healthy."


def test_gptj_pairwise_keeps_the_chosen_reply_stripped():
    rows, counts = read(source("gptj_pairwise", "gptj_pairwise.parquet"))
    assert_chat_schema(rows)
    assert counts.kept == 3
    assert rows[0]["messages"][1]["content"].startswith("Sure! Start")
    assert rows[1]["messages"][0]["content"].endswith("groceries?")
    assert all("I don't know." != r["messages"][1]["content"] for r in rows)


def test_lamini():
    rows, counts = read(source("lamini", "lamini.parquet"))
    assert_chat_schema(rows)
    assert counts.kept == 4 and rows[1]["messages"][1]["content"] == "The capital of Japan is Tokyo."


def test_tulu3_keeps_english_only():
    src = source("tulu3", "tulu3.parquet", exclude_subsets=["ai2-adapt-dev/tulu_v3.9_aya_100k"],
                 min_english_ratio=0.9)
    rows, counts = read(src)
    assert_chat_schema(rows)
    assert dict(counts.dropped) == {"non_english_subset": 2, "non_english_text": 1}
    assert [r["id"] for r in rows] == ["ai2-adapt-dev/flan_v2_converted_0", "personahub_abc123", "wildchat_2",
                                      "oasst1_1"]
    all_rows, _ = read(source("tulu3", "tulu3.parquet"))
    assert len(all_rows) == 7


def test_opus100_reads_the_translation_struct_and_drops_empty_pairs():
    src = OmegaConf.merge(OmegaConf.structured(ParallelSourceConfig),
                          {"path": str(FIX / "opus100.parquet"), "adapter": "opus100", "format": "parquet"})
    counts = Counts()
    rows = list(iter_parallel(src, "opus", counts))
    assert (counts.read, counts.kept, dict(counts.dropped)) == (5, 4, {"empty": 1})
    assert rows[0] == {"id": "opus-0", "source": "opus", "ar": "شكرا جزيلا.", "en": "Thank you very much."}
    assert rows[2]["id"] == "opus-3"  # ids follow the dataset's row index, gaps and all


def test_instruction_rows_for_translation_are_the_first_exchange():
    rows = load_instructions(source("tulu3", "tulu3.parquet"), "t")
    oasst = next(r for r in rows if r["id"] == "oasst1_1")
    assert oasst == {"id": "oasst1_1", "source": "t", "instruction": "How do vaccines work?",
                     "response": "They train the immune system to recognise a pathogen without causing the disease."}


def test_rows_without_the_adapters_columns_fail_naming_source_adapter_and_column():
    with pytest.raises(SchemaError, match=r"'src'.*row 0 has no column 'instruction' \(read by adapter 'lamini'\).*chosen"):
        read(source("lamini", "gptj_pairwise.parquet"))


def test_missing_adapter_column_is_named_before_any_model_loads():
    problem = check_columns(source("lamini", "gptj_pairwise.parquet"))
    assert "'instruction'" in problem and "lamini" in problem and "chosen" in problem
    assert check_columns(source("lamini", "lamini.parquet")) is None


def test_hala_sft_reads_the_released_corpus_sharegpt_turns():
    rows, counts = read(source("hala_sft", "hala_sft.parquet", id_field=None))
    assert_chat_schema(rows)
    assert (counts.read, counts.kept, dict(counts.dropped)) == (5, 4, {"empty": 1})
    assert [r["id"] for r in rows] == ["src-0", "src-1", "src-2", "src-4"]  # no id column: row positions
    assert rows[0]["messages"] == [{"role": "user", "content": "ما هي عاصمة أستراليا؟"},
                                   {"role": "assistant", "content": "عاصمة أستراليا هي كانبرا، وليست سيدني كما "
                                                                    "يظن كثيرون."}]
    assert [m["role"] for m in rows[1]["messages"]] == ["system", "user", "assistant"]
    assert len(rows[2]["messages"]) == 4  # multi-turn kept whole
    assert check_columns(source("hala_sft", "hala_sft.parquet", id_field=None)) is None


def test_hala_sft_refuses_a_row_it_cannot_read_with_its_index_and_the_fix():
    src = source("hala_sft", "hala_sft_bad.jsonl", id_field=None, offset=0)
    with pytest.raises(SchemaError, match=r"data source 'src' \(.*hala_sft_bad\.jsonl\): row 2: "
                                          r"conversations\[1\]\.from is 'bot', not one of system, human, gpt\. "
                                          r"Fix: check data\.translated\.<name>\.revision against the dataset card"):
        read(src)
    with pytest.raises(SchemaError, match=r"row 2: conversations\[1\]"):  # counted from the source's offset
        read(source("hala_sft", "hala_sft_bad.jsonl", id_field=None, offset=1))


@pytest.mark.parametrize(("conversations", "problem"), [
    (None, r"conversations is None, not a non-empty list of turns"),
    ([], r"conversations is \[\], not a non-empty list of turns"),
    ([{"from": "human"}], r"conversations\[0\] is \{'from': 'human'\}, not a turn \{from, value\}"),
    (["hello"], r"conversations\[0\] is 'hello', not a turn \{from, value\}"),
])
def test_hala_sft_names_each_shape_it_refuses(tmp_path, conversations, problem):
    import json

    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"conversations": conversations}) + "\n", encoding="utf-8")
    src = OmegaConf.merge(OmegaConf.structured(SourceConfig), {"path": str(path), "adapter": "hala_sft",
                                                               "format": "jsonl", "id_field": None})
    with pytest.raises(SchemaError, match=rf"row 0: {problem}\. Fix: "):
        read(src)


def test_hala_sft_a_number_for_a_turns_text_is_named():
    import json

    from hala_exp.data.adapters import text_problem

    row = {"conversations": [{"from": "human", "value": 7}, {"from": "gpt", "value": "سبعة"}]}
    src = OmegaConf.merge(OmegaConf.structured(SourceConfig), {"path": "x.jsonl", "adapter": "hala_sft",
                                                               "format": "jsonl"})
    problem, fix = text_problem(src, row)
    assert "conversations[0].value" in problem and "int" in problem and json.dumps("7") in fix
