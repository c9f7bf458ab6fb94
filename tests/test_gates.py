"""Each quality gate with a translation that trips it and one that passes; rejected rows keep reasons."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from hala_exp.config.schema import GatesConfig
from hala_exp.data.gates import GATES, apply_gates, check
from hala_exp.stages.train_translator import training_set

G = OmegaConf.structured(GatesConfig)
PROMPT = "Translate from English to Arabic: {text}"
EN = "The weather is very nice today in the city."
AR = "الطقس جميل جدا اليوم في المدينة."


@pytest.mark.parametrize("gate,source,bad,good", [
    ("empty", EN, "   ", AR),
    ("prompt_leak", EN, "Translate from English to Arabic: " + AR, AR),
    ("prompt_leak", EN, "<|im_start|>" + AR, AR),
    ("echo", EN, EN, AR),
    ("echo", EN, AR + " " + EN.upper(), AR),
    ("arabic_ratio", EN, "Le temps est très beau aujourd'hui en ville.", AR),
    ("length_ratio", EN, "جميل.", AR),
    ("length_ratio", EN, AR * 5, AR),
])
def test_gate_trips_on_the_bad_output_and_passes_the_good_one(gate, source, bad, good):
    assert check(source, bad, True, PROMPT, G) == gate
    assert check(source, good, True, PROMPT, G) is None


def test_cut_output_fails_and_short_sources_skip_the_length_check():
    assert check(EN, AR, False, PROMPT, G) == "cut"
    assert check("Yes.", "نعم، بالتأكيد، هذا صحيح تماما.", True, PROMPT, G) is None  # 4 chars: no length check


def test_thresholds_are_configurable():
    loose = OmegaConf.merge(G, {"min_arabic_ratio": 0.0, "min_length_ratio": 0.05})
    assert check(EN, "جميل.", True, PROMPT, loose) is None
    assert check(EN, "Le temps est beau, ville.", True, PROMPT, loose) is None


def tuple_row(i: int, instr_ar: str = AR, resp_ar: str = AR, cut: bool = False) -> dict:
    return {"id": f"r{i}", "source": "s", "instr_en": EN, "instr_ar": instr_ar, "resp_en": EN,
            "resp_ar": resp_ar, "cut": cut}


def test_apply_gates_keeps_failures_aside_with_reasons_and_counts_them():
    rows = [tuple_row(0), tuple_row(1, instr_ar=""), tuple_row(2, resp_ar=EN), tuple_row(3, cut=True),
            tuple_row(4, instr_ar="x", resp_ar="hello there")]
    passed, rejected, m = apply_gates(rows, PROMPT, G)
    assert [r["id"] for r in passed] == ["r0"] and "reasons" not in passed[0]
    assert {r["id"]: r["reasons"] for r in rejected} == {
        "r1": ["instruction:empty"], "r2": ["response:echo"], "r3": ["row:cut"],
        "r4": ["instruction:arabic_ratio", "response:arabic_ratio"]}
    assert m["gates.in"] == 5 and m["gates.passed"] == 1 and m["gates.rejected"] == 4
    assert {g: m[f"gates.rejected.{g}"] for g in GATES} == {
        "empty": 1, "cut": 1, "prompt_leak": 0, "echo": 1, "arabic_ratio": 2, "length_ratio": 0}
    off = OmegaConf.merge(G, {"enabled": False})
    assert len(apply_gates(rows, PROMPT, off)[0]) == 5


def test_translator_training_set_two_pairs_per_tuple_plus_accepted_in_a_seeded_order():
    tuples = [{"instr_en": f"q{i}", "instr_ar": f"س{i}", "resp_en": f"a{i}", "resp_ar": f"ج{i}"} for i in range(5)]
    accepted = [{"en": f"e{i}", "ar": f"ع{i}"} for i in range(3)] + [{"en": "no arabic", "ar": "none"}]
    rows, dropped = training_set(tuples, accepted, "T: {text}", seed=0)
    assert len(rows) == 5 * 2 + 3 and dropped == 1
    assert rows[0]["prompt"][0]["role"] == "user" and rows[0]["prompt"][0]["content"].startswith("T: ")
    assert rows[0]["completion"][0]["role"] == "assistant"
    pairs = {(r["prompt"][0]["content"], r["completion"][0]["content"]) for r in rows}
    assert ("T: q3", "س3") in pairs and ("T: a3", "ج3") in pairs and ("T: e1", "ع1") in pairs
    assert training_set(tuples, accepted, "T: {text}", seed=0)[0] == rows
    assert training_set(tuples, accepted, "T: {text}", seed=1)[0] != rows
