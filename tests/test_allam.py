"""ALLaM studies: fertility, vocabulary expansion, the mixture sampler, spikes, CPT and DPO on tiny models."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from hala_exp.allam.fertility import fertility
from hala_exp.allam.mixture import sample_mixture, shares
from hala_exp.data.paths import SAMPLES_DIR


def _tatoeba(column: str, start: int, stop: int) -> list[str]:
    with open(SAMPLES_DIR / "tatoeba_ara_eng/sample.tsv", encoding="utf-8", newline="") as f:
        return [r[column] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][start:stop]


def _char_tokenizer(alphabet: str, merges: list[tuple[str, str]]):
    """A BPE over single characters with the given merges: token counts can be worked out by hand."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(set(alphabet)))}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["[UNK]"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")


def test_fertility_matches_a_hand_count():
    texts = ["كتب الولد", "الولد"]
    tok = _char_tokenizer("كتبالود", [("ا", "ل")])
    # كتب = ك ت ب (3); الولد = ال و ل د (4), twice: 3 + 4 + 4 = 11 tokens, 3 words, 3 + 5 + 5 = 13 chars.
    f = fertility(tok, texts)
    assert (f["tokens"], f["words"], f["chars"]) == (11, 3, 13)
    assert f["tokens_per_word"] == pytest.approx(11 / 3)
    assert f["tokens_per_char"] == pytest.approx(11 / 13)


@pytest.fixture(scope="module")
def expanded(tiny_llama, tmp_path_factory):
    """tiny_llama (untied lm_head) expanded with an Arabic tokenizer trained on Tatoeba, both inits."""
    from hala_exp.allam.expand import expand

    corpus = _tatoeba("ar", 0, 1000)
    root = tmp_path_factory.mktemp("expanded")
    metrics = {init: expand(str(tiny_llama), corpus, root / init, 1024, init, seed=0)
               for init in ("mean", "random")}
    return tiny_llama, root, metrics


def test_new_token_rows_are_the_mean_of_their_pieces(expanded):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir, root, metrics = expanded
    assert metrics["mean"]["added_tokens"] > 50 and metrics["mean"]["tied_embeddings"] == 0.0
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    base_tok = AutoTokenizer.from_pretrained(base_dir)
    new = AutoModelForCausalLM.from_pretrained(root / "mean")
    tok = AutoTokenizer.from_pretrained(root / "mean")
    n_old = len(base_tok)
    assert len(tok) == n_old + metrics["mean"]["added_tokens"] == new.get_input_embeddings().weight.shape[0]
    for old_w, new_w in ((base.get_input_embeddings().weight, new.get_input_embeddings().weight),
                         (base.get_output_embeddings().weight, new.get_output_embeddings().weight)):
        assert torch.equal(new_w[:n_old], old_w)  # the base rows are untouched
        checked = 0
        for i in range(n_old, len(tok)):
            text = tok.convert_tokens_to_string([tok.convert_ids_to_tokens(i)])
            pieces = base_tok(text, add_special_tokens=False)["input_ids"]
            if len(pieces) > 1:
                checked += 1
            torch.testing.assert_close(new_w[i], old_w[pieces].mean(0))
        assert checked > 20
    rand = AutoModelForCausalLM.from_pretrained(root / "random").get_input_embeddings().weight
    assert not torch.allclose(rand[n_old:], new.get_input_embeddings().weight[n_old:])


def test_expansion_shortens_arabic_and_leaves_english_alone(expanded):
    from transformers import AutoTokenizer

    base_dir, root, _ = expanded
    base, tok = AutoTokenizer.from_pretrained(base_dir), AutoTokenizer.from_pretrained(root / "mean")
    ar, en = _tatoeba("ar", 1000, 1200), _tatoeba("en", 1000, 1200)
    assert fertility(tok, ar)["tokens_per_word"] < 0.9 * fertility(base, ar)["tokens_per_word"]
    assert base(en)["input_ids"] == tok(en)["input_ids"]
    assert [tok.decode(ids) for ids in tok(ar)["input_ids"]] == ar


def test_expanded_model_generates_and_trains(expanded, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala_exp.allam.spikes import grad_norm_rows
    from hala_exp.training.cpt import CptHyper, train_cpt

    base_dir, root, _ = expanded
    model_dir = root / "mean"
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    enc = tok(["أين الكتاب؟"], return_tensors="pt")
    assert enc["input_ids"].max() >= len(AutoTokenizer.from_pretrained(base_dir))  # the prompt uses new tokens
    out = model.generate(**enc, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > enc["input_ids"].shape[1]
    hyper = CptHyper(learning_rate=3e-3, global_batch=4, micro_batch=4, max_length=64, max_steps=4, warmup_ratio=0.0,
                     lr_scheduler="constant", weight_decay=0.0, max_grad_norm=1.0, packing=True, use_cpu=True,
                     bf16=False, seed=0)
    texts = _tatoeba("ar", 0, 64) + _tatoeba("en", 0, 64)
    with torch.no_grad():  # as lighteval leaves the process: training must switch grad back on itself
        m, history = train_cpt(str(model_dir), texts, {"arabic": _tatoeba("ar", 1000, 1016)}, tmp_path / "cpt", hyper)
    rows = grad_norm_rows(history)
    assert m["steps"] == 4 and [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["grad_norm"] > 0 for r in rows)
    assert m["heldout.arabic.loss"] < m["heldout.arabic.loss_before"]
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "cpt")
    assert trained.get_input_embeddings().weight.shape == model.get_input_embeddings().weight.shape


@pytest.mark.parametrize("ratio,translated", [(0.45, False), (0.15, False), (0.6, True)])
def test_mixture_sampler_honours_the_ratio(ratio, translated):
    rng = random.Random(1)
    pools = {lang: ["x" * rng.randint(5, 120) for _ in range(50)] for lang in ("arabic", "english", "translated")}
    targets = shares(ratio, translated, 0.3)
    docs, stats = sample_mixture(pools, targets, 40_000, len, seed=0)
    arabic = stats["share.arabic"] + stats.get("share.translated", 0.0)
    assert arabic == pytest.approx(ratio, abs=0.01)
    if translated:
        assert stats["share.translated"] == pytest.approx(0.3 * ratio, abs=0.01)
    else:
        assert not any(d["lang"] == "translated" for d in docs)
    assert stats["tokens"] >= 40_000 and stats["epochs.english"] > 1  # pools cycle when exhausted
    again, _ = sample_mixture(pools, targets, 40_000, len, seed=0)
    assert again == docs


def test_mixture_refuses_an_empty_pool():
    with pytest.raises(ValueError, match="arabic"):
        sample_mixture({"arabic": [], "english": ["a"]}, shares(0.5, False, 0.0), 10, len, seed=0)


def test_spikes_are_counted_over_the_running_median():
    from hala_exp.allam.spikes import count_spikes

    norms = [1.0, 1.1, 0.9, 1.0, 3.5, 1.0, 1.2, 2.1, 0.9, 5.0]
    assert count_spikes(norms, threshold=2.0, window=4) == [4, 9]
    assert count_spikes(norms, threshold=4.0, window=4) == [9]


def test_dpo_moves_the_policy_towards_chosen(tiny_lfm2, tmp_path):
    from omegaconf import OmegaConf
    from transformers import AutoModelForCausalLM

    from hala_exp.data.preferences import iter_pairs
    from hala_exp.models.loading import load_tokenizer
    from hala_exp.training.dpo import DpoHyper, conversational, preference_margin, train_dpo

    src = OmegaConf.create({"path": "samples:preference_pairs/sample.jsonl", "format": "jsonl", "subset": None,
                            "split": "train", "prompt_field": "prompt", "chosen_field": "chosen",
                            "rejected_field": "rejected", "rows": 16, "offset": 0})
    rows = [conversational(r["prompt"], r["chosen"], r["rejected"]) for r in iter_pairs(src)]
    assert len(rows) == 16
    hyper = DpoHyper(beta=0.1, loss_type="sigmoid", learning_rate=1e-3, global_batch=4, micro_batch=4,
                     max_length=128, max_steps=8, use_cpu=True, bf16=False, seed=0)
    m = train_dpo(str(tiny_lfm2), rows, tmp_path / "dpo", hyper)
    assert m["steps"] == 8 and m["margin_after"] > m["margin_before"] + 1.0
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "dpo")
    assert preference_margin(saved, load_tokenizer(str(tmp_path / "dpo")), rows) == pytest.approx(
        m["margin_after"], rel=1e-4)
    base = AutoModelForCausalLM.from_pretrained(tiny_lfm2)
    assert preference_margin(base, load_tokenizer(str(tiny_lfm2)), rows) == pytest.approx(m["margin_before"], rel=1e-4)


def test_text_sources_read_columns_lists_and_files():
    from omegaconf import OmegaConf

    from hala_exp.data.texts import load_texts

    base = {"subset": None, "split": "train", "offset": 0}
    mmlu = load_texts(OmegaConf.create({**base, "path": "samples:arabic_mmlu/sample.jsonl", "format": "jsonl",
                                        "fields": ["question", "choices"], "rows": 2}))
    assert len(mmlu) == 4 and "\n" in mmlu[1]  # the choices of a row are one text
    code = load_texts(OmegaConf.create({**base, "path": "package:allam/*.py", "format": "files",
                                        "fields": [], "rows": 50}))
    assert any("def sample_mixture" in t for t in code)
    assert Path(__file__).name  # a plain module path, nothing downloaded


def test_fertility_command_compares_tokenizers_on_the_bundled_texts(tiny_lfm2, tiny_llama, tmp_path):
    import json
    import subprocess
    import sys

    from hala_exp.allam.fertility_cli import texts_from_config
    from hala_exp.models.loading import load_tokenizer

    out = tmp_path / "fert"
    proc = subprocess.run([sys.executable, "-m", "hala_exp.allam.fertility_cli", f"lfm2={tiny_lfm2}",
                           f"llama={tiny_llama}", "--out", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads((out / "fertility.json").read_text())
    assert [(r["tokenizer"], r["language"]) for r in rows] == [
        (t, lang) for t in ("lfm2", "llama") for lang in ("arabic", "english", "code")]
    texts = texts_from_config("tiny")
    want = fertility(load_tokenizer(str(tiny_lfm2)), texts["arabic"])
    assert rows[0]["tokens"] == want["tokens"] and rows[0]["tokens_per_word"] == pytest.approx(want["tokens_per_word"])
    assert (out / "fertility.png").stat().st_size > 0 and "| lfm2 | arabic |" in proc.stdout


def test_fertility_command_rejects_a_tokenizer_without_a_label(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "hala_exp.allam.fertility_cli", "LiquidAI/LFM2-1.2B",
                           "--out", str(tmp_path / "f")], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "'LiquidAI/LFM2-1.2B' is not LABEL=PATH_OR_HUB_ID" in proc.stderr and "Fix:" in proc.stderr
    assert not (tmp_path / "f").exists()
