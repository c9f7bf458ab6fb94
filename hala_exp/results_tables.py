"""Turn `results.json` metrics into the tables the CLI prints, with the paper's numbers beside ours.

Two tables: translation quality (the paper's Table 2: BLEU / ROUGE-L / chrF++ per system) and the
benchmark suite (Table 1 style: systems x tasks + average, from `<suite>.<task>` metrics). Paper
rows come from `evaluation/reference_results.yaml` and are labelled `paper: ...`.
"""

from __future__ import annotations

from typing import Any

from hala_exp.allam.summary_lines import allam_summary
from hala_exp.evaluation.reference import paper_value, reference, table1_rows, table2_rows
from hala_exp.table_cells import Grid, to_markdown

# Columns shown per evaluation kind, in the paper's order; everything else stays in results.json.
TRANSLATION = {"BLEU": "translation.bleu", "ROUGE-L": "translation.rougeL", "chrF++": "translation.chrf"}
ORDER = ("teacher", "teacher_fp8", "translator_base", "translator", "student_base", "student_sft",
         "student_merged")


def system_rows(metrics: dict[str, float], kind: str = "evaluate") -> dict[str, dict[str, float]]:
    """{system: {metric: value}} from flat `<kind>.<system>.<metric>` names (evaluate, heldout)."""
    rows: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        if name.startswith(kind + "."):
            system, metric = name.removeprefix(kind + ".").split(".", 1)
            rows.setdefault(system, {})[metric] = value
    return rows


def _order(system: str) -> tuple[int, str]:
    return (ORDER.index(system) if system in ORDER else len(ORDER), system)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def grid(rows: list[tuple[str, list[Any]]], columns: list[str], first: str = "system", title: str = "",
         paper_from: int | None = None) -> Grid:
    """Rows of (label, values) under `columns`; rows from index `paper_from` on are the paper's."""
    g = Grid([first, *columns], title=title)
    for i, (label, cells) in enumerate(rows):
        g.add([label, *(_cell(v) for v in cells)], paper=paper_from is not None and i >= paper_from)
    return g


def translation_table(rows: dict[str, dict[str, float]]) -> Grid:
    """Our systems, then the paper's Table 2 rows."""
    ours = [(s, [rows[s].get(k) for k in TRANSLATION.values()]) for s in sorted(rows, key=_order)]
    paper = [(f"paper: {r['label']}", [float(r[k.split('.')[1]]) for k in TRANSLATION.values()])
             for r in table2_rows()]
    return grid(ours + paper, list(TRANSLATION), title=f"Translation EN->AR (paper: {reference()['table2']['source']})",
                paper_from=len(ours))


def suite_names(rows: dict[str, dict[str, float]]) -> list[str]:
    """Suites that reported a roll-up (`<suite>.average`)."""
    return sorted({m.split(".")[0] for r in rows.values() for m in r if m.count(".") == 1 and m.endswith(".average")})


def suite_table(rows: dict[str, dict[str, float]], suite: str, model_id: str | None = None) -> Grid:
    """Systems x tasks + average for `suite` (0-100), the paper's Table 1 average beside each system
    whose model the paper evaluated, then the paper's rows."""
    systems = sorted((s for s in rows if f"{suite}.average" in rows[s]), key=_order)
    tasks = sorted({m.split(".", 1)[1] for s in systems for m in rows[s]
                    if m.startswith(suite + ".") and m.count(".") == 1} - {"average"})
    columns = [*tasks, "average", "paper average"]
    ours = [(s, [rows[s].get(f"{suite}.{t}") for t in tasks] + [rows[s][f"{suite}.average"],
                                                               paper_value(model_id, s)]) for s in systems]
    paper = [(f"paper: {r['label']}", [None] * len(tasks) + [None, float(r["average"])])
             for r in table1_rows(model_id)]
    t1 = reference()["table1"]
    note = "" if suite == t1["suite"] else f"; the paper's rows are its {t1['suite']} average, not {suite}"
    return grid(ours + paper, columns, title=f"Benchmarks: suite {suite}, 0-100 (paper: {t1['source']}{note})",
                paper_from=len(ours))


def heldout_rows(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """{system: {"<lang>.<metric>": value}} from flat `heldout.<system>.<lang>.<metric>` names, in order."""
    rows = system_rows(metrics, "heldout")
    return dict(sorted(rows.items(), key=lambda kv: _order(kv[0])))


def heldout_table(metrics: dict[str, float]) -> Grid | None:
    """Held-out loss (nats/token) and bits per character per system and language (`heldout.*`)."""
    rows = heldout_rows(metrics)
    if not rows:
        return None
    langs = sorted({m.split(".")[0] for r in rows.values() for m in r})
    columns = [f"{lang} {k}" for lang in langs for k in ("loss", "bpc")]
    cells = [(s, [rows[s].get(c.replace(" ", ".")) for c in columns]) for s in rows]
    return grid(cells, columns,
                title="Held-out text (loss: nats per token; bpc: bits per character; lower is better)")


def summary_tables(metrics: dict[str, float], model_id: str | None = None,
                   systems: dict[str, Any] | None = None) -> list[Grid]:
    """Every table that the run's metrics fill; `model_id` (the student's) picks the paper's rows.
    With `systems` (recipe=compare's checkpoints), Tables 1 and 2 compare each with the paper's
    number for it first; the per-task table follows."""
    rows = system_rows(metrics)
    translation = {s: m for s, m in rows.items() if TRANSLATION["BLEU"] in m}
    lm = {s: m for s, m in rows.items() if s not in translation}
    tables = []
    if systems:
        from hala_exp.table.compare import comparison_tables

        tables += comparison_tables(metrics, systems)
    elif translation:
        tables.append(translation_table(translation))
    suites = suite_names(lm)
    tables += [suite_table(lm, suite, model_id) for suite in suites]
    if lm and not suites:
        cols = sorted({k for m in lm.values() for k in m if k.count(".") == 1})
        plain = [(s, [lm[s].get(c) for c in cols]) for s in sorted(lm, key=_order)]
        tables.append(grid(plain, cols, title="Benchmarks (lighteval)"))
    heldout = heldout_table(metrics)
    if heldout:
        tables.append(heldout)
    return tables


def summary(metrics: dict[str, float], model_id: str | None = None, systems: dict[str, Any] | None = None) -> str:
    """The tables as Markdown, then the ALLaM studies' lines: what the CLI prints at the end of a run."""
    parts = [to_markdown(g) for g in summary_tables(metrics, model_id, systems)]
    allam = allam_summary(metrics)
    if allam:
        parts.append(allam)
    return "\n\n".join(parts)
