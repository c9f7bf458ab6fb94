"""Each quality gate with a translation that trips it and one that passes; rejected rows keep reasons."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from hala_exp.config.schema import GatesConfig
from hala_exp.data.gates import GATES, apply_gates, check, trailing_words, with_special_tokens
from hala_exp.stages.train_translator import training_set

G = OmegaConf.structured(GatesConfig)
PROMPT = "Translate from English to Arabic: {text}"
EN = "The weather is very nice today in the city."
AR = "الطقس جميل جدا اليوم في المدينة."


@pytest.mark.parametrize("gate,source,bad,good", [
    ("empty", EN, "   ", AR),
    ("prompt_leak", EN, "Translate from English to Arabic: " + AR, AR),
    ("prompt_leak", EN, "<|im_start|>" + AR, AR),
    ("prompt_leak", EN, "Here is the translation from English to Arabic: " + AR, AR),
    ("trailing_script", EN, AR + "\nNote: this is a literal translation.", AR),
    ("trailing_script", EN, AR + " (Translated literally, word for word)", AR),
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


SPECIALS = with_special_tokens(G, ["<|endoftext|>", "<|pad|>", "", " "])


def test_special_tokens_of_the_model_reject_an_output_and_blank_ones_are_dropped():
    assert list(SPECIALS.special_tokens) == ["<|endoftext|>", "<|pad|>"]
    assert check(EN, AR + "<|endoftext|>", True, PROMPT, SPECIALS) == "special_token"
    assert check(EN, AR, True, PROMPT, SPECIALS) is None
    assert check(EN, AR + "<|endoftext|>", True, PROMPT, G) is None  # no tokenizer given: nothing to find
    off = OmegaConf.merge(SPECIALS, {"reject_special_tokens": False})
    assert check(EN, AR + "<|endoftext|>", True, PROMPT, off) is None
    kept = with_special_tokens(OmegaConf.merge(G, {"special_tokens": ["<extra>"]}), ["<|pad|>"])
    assert list(kept.special_tokens) == ["<extra>", "<|pad|>"]  # configured strings stay


LONG_PROMPT = ("You are a professional translation engine. Translate English to Modern Standard Arabic. "
               "Reply ONLY with the Arabic translation. Translate everything that follows into Arabic: {text}")


@pytest.mark.parametrize("fragment", ["a professional translation engine", "reply only with the Arabic",
                                      "Translate English to Modern Standard Arabic"])
def test_any_run_of_prompt_words_is_a_leak(fragment):
    assert check(EN, AR + " " + fragment, True, LONG_PROMPT, G) == "prompt_leak"
    assert check(EN, fragment + ": " + AR, True, LONG_PROMPT, G) == "prompt_leak"


def test_prompt_word_runs_below_the_threshold_or_in_the_source_are_not_leaks():
    assert check(EN, AR + " the Arabic translation", True, LONG_PROMPT, G) != "prompt_leak"  # 3 words
    source = "Reply only with the Arabic word for cat."
    loose = OmegaConf.merge(G, {"min_arabic_ratio": 0.0})
    assert check(source, "Reply only with the Arabic word: قطة", True, LONG_PROMPT, loose) is None
    off = OmegaConf.merge(G, {"leak_min_words": 0})
    assert check(EN, AR + " a professional translation engine", True, LONG_PROMPT, off) != "prompt_leak"
    wider = OmegaConf.merge(G, {"leak_min_words": 3})
    assert check(EN, AR + " the Arabic translation", True, LONG_PROMPT, wider) == "prompt_leak"


@pytest.mark.parametrize("source,output", [
    ("I bought a new iPhone at the Apple Store yesterday.", "اشتريت هاتف iPhone جديدا من Apple Store أمس."),
    ("Call the function print() in Python 3.", "استدعِ الدالة print() في Python 3."),
    ("He works at NASA and IBM.", "يعمل في NASA و IBM."),
    ("The meeting is at 10:30 on 2024-05-01.", "الاجتماع في الساعة 10:30 يوم 2024-05-01."),
    ("Run the command.", "شغّل الأمر: `pip install --upgrade numpy pandas scipy`"),
    ("Read more on the site.", "اقرأ المزيد على https://example.com/docs/getting-started/install"),
    ("I read the New York Times Magazine every week.", "أقرأ كل أسبوع The New York Times Magazine"),
])
def test_latin_names_numbers_code_and_acronyms_kept_from_the_source_pass(source, output):
    assert trailing_words(output, source) == []
    # with the script share out of the way (short outputs, mostly Latin), no other gate trips
    assert check(source, output, True, PROMPT, OmegaConf.merge(G, {"min_arabic_ratio": 0.0})) is None


def test_trailing_words_count_only_new_words_in_another_script_after_the_arabic():
    assert trailing_words(AR + " Note: this is a literal translation.", "This is it.") == ["note", "literal",
                                                                                          "translation"]
    assert trailing_words("Note: see below. " + AR, "") == []  # before the Arabic: not trailing
    assert trailing_words("Only English here.", "") == []  # the arabic_ratio gate's case
    assert check(EN, AR + " Literal translation.", True, PROMPT, G) is None  # 2 < trailing_min_words
    strict = OmegaConf.merge(G, {"trailing_min_words": 2})
    assert check(EN, AR + " Literal translation.", True, PROMPT, strict) == "trailing_script"
    off = OmegaConf.merge(G, {"trailing_min_words": 0})
    assert check(EN, AR + "\nNote: this is a literal translation.", True, PROMPT, off) == "arabic_ratio"


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
        "too_long": 0, "empty": 1, "cut": 1, "special_token": 0, "prompt_leak": 0, "echo": 1, "trailing_script": 0,
        "arabic_ratio": 2, "length_ratio": 0}
    off = OmegaConf.merge(G, {"enabled": False})
    assert len(apply_gates(rows, PROMPT, off)[0]) == 5


def test_new_gates_reach_the_metrics_with_their_reasons():
    rows = [tuple_row(0, instr_ar=AR + "<|endoftext|>"),
            tuple_row(1, resp_ar=AR + "\nNote: this is a literal translation."),
            tuple_row(2, instr_ar="Translate from English to: " + AR), tuple_row(3)]
    passed, rejected, m = apply_gates(rows, PROMPT, SPECIALS)
    assert [r["id"] for r in passed] == ["r3"]
    assert {r["id"]: r["reasons"] for r in rejected} == {
        "r0": ["instruction:special_token"], "r1": ["response:trailing_script"], "r2": ["instruction:prompt_leak"]}
    assert (m["gates.rejected.special_token"], m["gates.rejected.trailing_script"],
            m["gates.rejected.prompt_leak"]) == (1, 1, 1)


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


def test_a_translate_pass_gates_with_the_models_special_tokens_even_when_resumed(tiny_llama, tmp_path,
                                                                                monkeypatch):
    """The engine's tokenizer gives the special tokens; a pass with every shard done loads the tokenizer
    alone, never the model."""
    import hala_exp.data.gates as gates_module
    import hala_exp.engines.backends as engines
    from hala_exp.config.schema import EngineConfig
    from hala_exp.row_translation import translate_pass

    seen: list[list[str]] = []
    real_apply = gates_module.apply_gates
    monkeypatch.setattr(gates_module, "apply_gates",
                        lambda rows, prompt, g: (seen.append(list(g.special_tokens)), real_apply(rows, prompt, g))[1])
    engine_cfg = OmegaConf.merge(OmegaConf.structured(EngineConfig), {"device": "cpu", "shard_rows": 2})
    rows = [{"id": f"r{i}", "source": "s", "instruction": EN, "response": "Yes."} for i in range(2)]
    translate_pass(engine_cfg, str(tiny_llama), "float32", PROMPT, 4, rows, str(tmp_path), G)
    monkeypatch.setattr(engines, "make_engine", lambda *a: pytest.fail("a resumed pass opened the model"))
    _, _, metrics = translate_pass(engine_cfg, str(tiny_llama), "float32", PROMPT, 4, rows, str(tmp_path), G)
    assert metrics["shards_run"] == 0
    # <|im_start|> is an added special token outside the tokenizer's special-tokens map
    assert seen[0] == seen[1] and {"<|im_start|>", "<|im_end|>", "<|pad|>"} <= set(seen[0])


def test_the_vllm_engine_gives_the_special_tokens_of_its_own_tokenizer(tiny_llama):
    """The tokenizer vLLM's `LLM.get_tokenizer()` returned is the one read; no second one is loaded (no
    vLLM needed here; tests/test_vllm_pipeline.py opens the real engine)."""
    from hala_exp.engines.vllm import VLLMEngine
    from hala_exp.models.loading import load_tokenizer, special_token_strings

    tokenizer = load_tokenizer(str(tiny_llama))
    engine = object.__new__(VLLMEngine)
    engine.tokenizer = tokenizer
    assert engine.special_tokens() == special_token_strings(tokenizer)
    assert "<|im_start|>" in engine.special_tokens()
