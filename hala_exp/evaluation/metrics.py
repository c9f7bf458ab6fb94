"""Translation quality as in the HALA report's Table 2: BLEU (13a), chrF++ and ROUGE-L F1.

BLEU and chrF++ come from sacrebleu's corpus scorers, so the numbers match its command line.
rouge-score's default tokenizer drops everything outside a-z/0-9 (ROUGE-L on Arabic would be 0),
and a `\\w+` tokenizer splits vocalised Arabic at its diacritics, so ROUGE-L counts the words of
`hala_exp.arabic_text.words`: whole words of any script with their diacritics, tatweel dropped.
"""

from __future__ import annotations

from hala_exp.arabic_text import words


class WordTokenizer:
    """Lower-cased `hala_exp.arabic_text.words` (rouge-score's tokenizer interface)."""

    def tokenize(self, text: str) -> list[str]:
        return words(text.lower())


def rouge_l(hypotheses: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 over items, on a 0-100 scale like BLEU and chrF++."""
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(["rougeL"], tokenizer=WordTokenizer())
    scores = [scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hypotheses, references)]
    return 100.0 * sum(scores) / len(scores) if scores else 0.0


def translation_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU (13a), chrF++ (word order 2) and mean ROUGE-L F1, all on a 0-100 scale."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    refs = [list(references)]
    return {
        "bleu": float(BLEU(tokenize="13a").corpus_score(hypotheses, refs).score),
        "chrf": float(CHRF(word_order=2).corpus_score(hypotheses, refs).score),
        "rougeL": rouge_l(hypotheses, references),
    }


def sentence_scores(hypotheses: list[str], references: list[str]) -> list[dict[str, float]]:
    """Each item's BLEU (13a, with sacrebleu's smoothing for single sentences) and chrF++, 0-100: for
    reading item by item which translations pull the corpus score down."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(tokenize="13a", effective_order=True), CHRF(word_order=2)
    return [{"bleu": float(bleu.sentence_score(h, [r]).score), "chrf": float(chrf.sentence_score(h, [r]).score)}
            for h, r in zip(hypotheses, references, strict=True)]
