"""Translation metrics: BLEU/chrF++ agree with sacrebleu's command line; ROUGE-L works on Arabic."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.evaluation.metrics import translation_scores


def _tatoeba_pairs(n: int) -> tuple[list[str], list[str]]:
    """Arabic references and imperfect hypotheses made from them (shuffled, cut, swapped, exact)."""
    with open(SAMPLES_DIR / "tatoeba_ara_eng/sample.tsv", encoding="utf-8", newline="") as f:
        refs = [r["ar"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][:n]
    rnd = random.Random(7)
    hyps = []
    for i, ref in enumerate(refs):
        words = ref.split()
        if i % 4 == 0:
            hyps.append(ref)
        elif i % 4 == 1:
            rnd.shuffle(words)
            hyps.append(" ".join(words))
        elif i % 4 == 2:
            hyps.append(" ".join(words[: max(1, len(words) - 2)]))
        else:
            hyps.append(refs[(i + 5) % n])
    return hyps, refs


def test_bleu_and_chrf_match_sacrebleu_cli(tmp_path: Path):
    hyps, refs = _tatoeba_pairs(60)
    (tmp_path / "ref.txt").write_text("\n".join(refs) + "\n", encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    cli = Path(sys.executable).with_name("sacrebleu")
    proc = subprocess.run([str(cli), str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"),
                           "-m", "bleu", "chrf", "--chrf-word-order", "2", "-w", "6"],
                          capture_output=True, text=True, check=True)
    by_name = {r["name"]: r for r in json.loads(proc.stdout)}
    assert "tok:13a" in by_name["BLEU"]["signature"]
    ours = translation_scores(hyps, refs)
    assert 5 < ours["bleu"] < 95  # imperfect but related: the comparison is not trivially 0 or 100
    assert ours["bleu"] == pytest.approx(by_name["BLEU"]["score"], abs=1e-5)
    assert ours["chrf"] == pytest.approx(by_name["chrF2++"]["score"], abs=1e-5)


def test_rouge_l_on_arabic_equals_hand_computed_lcs():
    ref = "ذهب الولد إلى المدرسة صباحا"
    hyp = "الولد ذهب إلى المدرسة"
    # LCS("ذهب الولد إلى المدرسة صباحا", "الولد ذهب إلى المدرسة") = 3 words (الولد إلى المدرسة):
    # P = 3/4, R = 3/5, F1 = 2PR / (P + R) = 0.9 / 1.35 = 2/3; an exact second item scores 1.
    scores = translation_scores([hyp, "القطة نائمة"], [ref, "القطة نائمة"])
    assert scores["rougeL"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert translation_scores([hyp], [ref])["rougeL"] == pytest.approx(100 * 2 / 3)


def test_rouge_default_tokenizer_would_score_arabic_zero():
    """Why metrics.py passes its own tokenizer: rouge-score's default drops Arabic script."""
    from rouge_score.rouge_scorer import RougeScorer

    assert RougeScorer(["rougeL"]).score("ذهب الولد", "ذهب الولد")["rougeL"].fmeasure == 0.0
    assert translation_scores(["ذهب الولد"], ["ذهب الولد"])["rougeL"] == pytest.approx(100.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        translation_scores(["a"], ["a", "b"])


VOCALISED = "ذَهَبَ الوَلَدُ إِلَى المَدْرَسَةِ صَبَاحًا، وَشَغَّلَ الحَاسُوبَ."


def test_words_keep_vocalised_arabic_whole():
    from hala_exp.arabic_text import words

    assert words("شغّل") == ["شغّل"]
    assert words(VOCALISED) == [w.strip("،.") for w in VOCALISED.split()]
    assert words("جَاءَ زَيْدٌ مُسْرِعًا") == ["جَاءَ", "زَيْدٌ", "مُسْرِعًا"]  # tanwin stays on its word


def test_words_drop_tatweel_and_normalise_mark_order():
    from hala_exp.arabic_text import words

    assert words("كـتـاب جمـيـل") == ["كتاب", "جميل"]
    assert words("ـ") == []
    shadda_fatha, fatha_shadda = "\u0634\u0651\u064e", "\u0634\u064e\u0651"  # the same marks in either order
    assert words(shadda_fatha) == words(fatha_shadda)


def test_words_still_split_latin_and_digits():
    from hala_exp.arabic_text import words

    assert words("Hello, world! GPT-4 costs $20 (x_y).") == ["Hello", "world", "GPT", "4", "costs", "20", "x_y"]
    assert words("عام ٢٠٢٤ و2025") == ["عام", "٢٠٢٤", "و2025"]


def test_rouge_l_on_vocalised_arabic_counts_whole_words():
    assert translation_scores([VOCALISED], [VOCALISED])["rougeL"] == pytest.approx(100.0)
    # tatweel in the hypothesis is typography, not another word
    assert translation_scores(["ذَهَبَ الوَلَـــدُ"], ["ذَهَبَ الوَلَدُ"])["rougeL"] == pytest.approx(100.0)
    # one of two vocalised words differs: P = R = 1/2 (a mark-splitting tokenizer counts fragments)
    assert translation_scores(["ذَهَبَ البِنْتُ"], ["ذَهَبَ الوَلَدُ"])["rougeL"] == pytest.approx(50.0)


def test_sentence_scores_rate_each_item():
    from hala_exp.evaluation.metrics import sentence_scores

    same, off, empty = sentence_scores(["القط على الحصيرة", "القط نائم", ""], ["القط على الحصيرة"] * 3)
    assert same == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0)}
    assert 0.0 < off["chrf"] < 100.0 and off["bleu"] < 100.0
    assert empty == {"bleu": 0.0, "chrf": 0.0}
