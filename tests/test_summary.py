"""The CLI's tables: ours beside the paper's Table 1 and Table 2 rows (from reference_results.yaml)."""

from __future__ import annotations

import pytest

from hala_exp.config import compose
from hala_exp.evaluation.reference import paper_value, table1_rows, table2_rows
from hala_exp.results_tables import summary


def _metrics() -> dict[str, float]:
    m = {}
    for i, system in enumerate(("teacher", "teacher_fp8", "translator_base", "translator")):
        m |= {f"evaluate.{system}.translation.bleu": 10.0 + i, f"evaluate.{system}.translation.rougeL": 20.0 + i,
              f"evaluate.{system}.translation.chrf": 30.0 + i, f"evaluate.{system}.translation.n": 500.0}
    for i, system in enumerate(("student_base", "student_sft", "student_merged")):
        m |= {f"evaluate.{system}.oall.alghafa": 40.0 + i, f"evaluate.{system}.oall.arabic_mmlu": 50.0 + i,
              f"evaluate.{system}.oall.average": 45.0 + i, f"evaluate.{system}.alghafa.acc": 0.4 + i / 100}
    return m


def test_reference_rows_hold_the_papers_numbers_for_each_preset():
    assert [(r["label"], r["average"]) for r in table1_rows(compose(["experiment=hala_1.2b"]).model.id)] == [
        ("LFM2-1.2B", 46.3), ("HALA-1.2B", 51.4)]
    assert [r["average"] for r in table1_rows(compose(["experiment=hala_9b"]).model.id)] == [69.2, 69.9]
    assert len(table1_rows("tiny")) == 8  # no match: every row
    assert paper_value("LiquidAI/LFM2-350M", "student_merged") == 41.9
    assert paper_value("LiquidAI/LFM2-350M", "student_sft") is None
    fp8 = next(r for r in table2_rows() if r["system"] == "teacher_fp8")
    assert (fp8["bleu"], fp8["rougeL"], fp8["chrf"]) == (53.5, 26.0, 68.9)
    assert {r["system"] for r in table2_rows()} == {"teacher", "teacher_fp8", "translator_base", "translator"}


def _table(text: str, heading: str) -> list[list[str]]:
    block = text.split(heading, 1)[1].split("\n\n")[0].splitlines()[1:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block]


def test_summary_prints_both_tables_with_paper_rows_beside_ours():
    text = summary(_metrics(), model_id="LiquidAI/LFM2-1.2B")
    tr = _table(text, "Translation EN->AR")
    assert tr[0] == ["system", "BLEU", "ROUGE-L", "chrF++"]
    assert tr[2] == ["teacher", "10.00", "20.00", "30.00"] and tr[5] == ["translator", "13.00", "23.00", "33.00"]
    assert tr[6] == ["paper: teacher FP16 (command-a-translate)", "53.10", "26.00", "68.60"]
    assert tr[9] == ["paper: HALA translator (LFM2-1.2B)", "48.20", "25.10", "64.20"]
    oall = _table(text, "Benchmarks: suite oall")
    assert oall[0] == ["system", "alghafa", "arabic_mmlu", "average", "paper average"]
    assert oall[2] == ["student_base", "40.00", "50.00", "45.00", "46.30"]
    assert oall[3] == ["student_sft", "41.00", "51.00", "46.00", ""]
    assert oall[4] == ["student_merged", "42.00", "52.00", "47.00", "51.40"]
    assert oall[5:] == [["paper: LFM2-1.2B", "", "", "", "46.30"], ["paper: HALA-1.2B", "", "", "", "51.40"]]


def test_suite_other_than_oall_says_the_paper_rows_are_oall():
    m = {"evaluate.student_base.smoke.arabic_mmlu_sample": 30.0, "evaluate.student_base.smoke.average": 30.0}
    text = summary(m)
    assert "the paper's rows are its oall average, not smoke" in text
    assert len(_table(text, "Benchmarks: suite smoke")) == 2 + 1 + 8


@pytest.mark.parametrize("metrics", [{}, {"build.x.parameters": 3.0}])
def test_summary_without_evaluations_is_empty(metrics):
    assert summary(metrics) == ""
