"""Text of the bundled samples, for training the tiny models' tokenizer."""

from __future__ import annotations

import csv
import json

from hala_exp.data.paths import SAMPLES_DIR


def sample_texts() -> list[str]:
    """Every Arabic and English string in the bundled samples, in a fixed order."""
    texts: list[str] = []
    with open(SAMPLES_DIR / "tatoeba_ara_eng/sample.tsv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts += [row["ar"], row["en"]]
    with open(SAMPLES_DIR / "mmlu_en_ar/sample.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts += [row["en_question"], row["ar_question"]]
    with open(SAMPLES_DIR / "arabic_mmlu/sample.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts += [row["question"], *row["choices"]]
    return texts
