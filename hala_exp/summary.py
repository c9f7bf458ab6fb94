"""Turn `results.json` metrics into the per-system table the CLI prints."""

from __future__ import annotations

from typing import Any

from hala_exp.allam.report import allam_summary

# Columns shown per evaluation kind; everything else stays in results.json.
TRANSLATION = ("translation.bleu", "translation.chrf", "translation.rougeL")
ORDER = ("teacher", "teacher_fp8", "translator_base", "translator", "student_base", "student_sft",
         "student_merged")


def system_rows(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """{system: {metric: value}} from flat `evaluate.<system>.<metric>` names."""
    rows: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        if name.startswith("evaluate."):
            system, metric = name.removeprefix("evaluate.").split(".", 1)
            rows.setdefault(system, {})[metric] = value
    return rows


def markdown_table(rows: dict[str, dict[str, Any]], columns: list[str]) -> str:
    lines = ["| system | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for system in sorted(rows, key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s)):
        cells = [rows[system].get(c) for c in columns]
        lines.append(f"| {system} | " + " | ".join("" if v is None else f"{v:.4g}" for v in cells) + " |")
    return "\n".join(lines)


def summary(metrics: dict[str, float]) -> str:
    rows = system_rows(metrics)
    translation = {s: m for s, m in rows.items() if TRANSLATION[0] in m}
    lm = {s: m for s, m in rows.items() if s not in translation}
    parts = []
    if translation:
        parts.append("Translation EN->AR\n" + markdown_table(translation, list(TRANSLATION)))
    if lm:
        cols = sorted({k for m in lm.values() for k in m if k.count(".") == 1})
        parts.append("Benchmarks (lighteval)\n" + markdown_table(lm, cols))
    allam = allam_summary(metrics)
    if allam:
        parts.append(allam)
    return "\n\n".join(parts)
