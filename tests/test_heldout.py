"""Held-out loss: token-weighted, every token of a text predicted, equal to the model's own loss."""

from __future__ import annotations

import math

import pytest

from hala_exp.evaluation.heldout import heldout_loss
from hala_exp.stages.cpt import eval_curve
from hala_exp.table.plot import curve_points


def test_heldout_loss_equals_the_models_own_mean_token_loss(tiny_llama):
    import torch

    from hala_exp.models.loading import load_causal_lm, load_tokenizer

    tok, model = load_tokenizer(str(tiny_llama)), load_causal_lm(str(tiny_llama))
    texts = ["مرحبا بكم في البيت", "The cat sat on the mat.", "ذهبت إلى السوق صباحاً واشتريت خبزاً"]
    got = heldout_loss(model, tok, texts, batch_size=2, max_length=64)
    nll = tokens = 0
    for t in texts:  # one text at a time, no padding: the model's own (mean) loss times its token count
        ids = torch.tensor([[tok.bos_token_id] + tok(t, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            loss = float(model(input_ids=ids, labels=ids).loss)
        nll += loss * (ids.shape[1] - 1)
        tokens += ids.shape[1] - 1
    assert got["tokens"] == tokens
    assert got["loss"] == pytest.approx(nll / tokens, rel=1e-4)
    assert got["bpc"] == pytest.approx(nll / math.log(2) / sum(map(len, texts)), rel=1e-4)
    assert got["ppl"] == pytest.approx(math.exp(got["loss"]))


def test_heldout_loss_refuses_an_empty_text_list(tiny_llama):
    from hala_exp.models.loading import load_causal_lm, load_tokenizer

    with pytest.raises(ValueError, match="no held-out texts"):
        heldout_loss(load_causal_lm(str(tiny_llama)), load_tokenizer(str(tiny_llama)), [], 4, 32)


def test_the_cpt_curve_runs_from_step_0_to_the_end_per_language():
    metrics = {"heldout.arabic.loss_step0": 5.0, "heldout.arabic.loss_step4": 4.0, "heldout.arabic.loss_step8": 3.5,
               "heldout.english.loss_step0": 3.0, "heldout.english.loss_step8": 3.1, "heldout.arabic.loss": 3.5,
               "steps": 8.0}
    assert eval_curve(metrics) == [{"step": 0.0, "arabic": 5.0, "english": 3.0}, {"step": 4.0, "arabic": 4.0},
                                   {"step": 8.0, "arabic": 3.5, "english": 3.1}]
    flat = {f"cpt.{k}": v for k, v in metrics.items()}
    assert curve_points(flat, "cpt.heldout.arabic.loss") == [(0, 5.0), (4, 4.0), (8, 3.5)]
