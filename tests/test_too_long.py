"""Prompts that do not fit the engine's context: answered too_long, never sent, rejected and counted.

The vLLM side runs in tests/test_vllm_pipeline.py; here the rule itself and the transformers
engine, which applies it when `engine.max_model_len` is set, on a tiny model.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from hala_exp.config.schema import GatesConfig
from hala_exp.data.gates import apply_gates
from hala_exp.engines.base import SamplingParams, fits
from hala_exp.row_translation import translate_rows

PROMPT = "Translate from English to Arabic: {text}"


def test_a_prompt_must_leave_one_token_to_generate():
    assert fits(99, 100) and not fits(100, 100) and not fits(101, 100)  # vLLM refuses prompt_len >= max_model_len
    assert fits(10**6, None)


def _engine(model, max_model_len):
    from hala_exp.engines.hf import TransformersEngine

    return TransformersEngine(str(model), OmegaConf.create({"device": "cpu", "dtype": "float32", "batch_size": 4,
                                                            "max_model_len": max_model_len}))


def test_the_transformers_engine_skips_prompts_that_fill_the_context(tiny_llama):
    engine = _engine(tiny_llama, 64)
    short, long = "a short line", " ".join(["word"] * 200)
    rows = [{"id": "0", "source": "s", "instruction": short, "response": short},
            {"id": "1", "source": "s", "instruction": long, "response": short},
            {"id": "2", "source": "s", "instruction": short, "response": short}]
    out, metrics = translate_rows(engine, rows, PROMPT, SamplingParams(max_new_tokens=4))
    assert [r.get("too_long", False) for r in out] == [False, True, False]
    assert "too_long" not in out[0]  # rows that fit are written as before
    assert out[1]["instr_ar"] == "" and metrics["too_long"] == 1.0
    assert metrics["cut_at_limit"] <= 5  # of 6 outputs, the one never generated is not counted as cut
    assert out[0]["instr_ar"] == out[2]["instr_ar"]  # the others still generate, in their batch
    unlimited = _engine(tiny_llama, None)
    assert not any(r.get("too_long") for r in translate_rows(unlimited, rows, PROMPT, SamplingParams(4))[0])


def test_a_too_long_row_is_rejected_with_gates_on_or_off():
    row = {"id": "1", "source": "s", "instr_en": "x", "instr_ar": "", "resp_en": "y", "resp_ar": "", "cut": True,
           "too_long": True}
    for enabled in (True, False):
        g = OmegaConf.merge(OmegaConf.structured(GatesConfig), {"enabled": enabled})
        passed, rejected, metrics = apply_gates([row], PROMPT, g)
        assert not passed and rejected[0]["reasons"] == ["row:too_long"]
        assert metrics["gates.rejected.too_long"] == 1.0 and metrics["gates.rejected.cut"] == 0.0


def test_a_judge_pair_that_does_not_fit_is_invalid_marked_and_counted(tiny_llama):
    from hala_exp.row_translation import LazyEngine
    from hala_exp.stages.judge import _judge_shard

    engine_cfg = OmegaConf.create({"backend": "transformers", "device": "cpu", "dtype": "float32", "batch_size": 4,
                                   "max_model_len": 64, "temperature": 0.0, "top_p": 1.0, "seed": 0})
    cfg = OmegaConf.create({"engine": engine_cfg, "judge": {"prompt": "Judge. AR: {ar_text} EN: {en_text}",
                                                            "max_new_tokens": 2}})
    rows = [{"id": "0", "ar": "نعم", "en": "yes"}, {"id": "1", "ar": "نعم", "en": " ".join(["word"] * 200)}]
    engine = LazyEngine(engine_cfg, str(tiny_llama), "float32")
    try:
        judged, counts = _judge_shard(engine, cfg, rows)
    finally:
        engine.close()
    assert "too_long" not in judged[0] and judged[1]["too_long"] is True
    assert judged[1]["verdict"] == "invalid" and judged[1]["verdict_raw"] == ""
    assert counts["too_long"] == 1.0
