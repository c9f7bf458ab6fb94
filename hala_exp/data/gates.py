"""Quality gates on translations: each check is a pure function of (source, output), counted by name.

A translated row fails when either of its outputs (instruction, response) trips a gate; it is then
written aside with its reasons instead of into the training data, and every reason is counted in
the stage's metrics. Gates, in the order they are checked (the first that trips is the reason):
empty, cut (stopped at the token limit), prompt_leak, echo (the English came back),
arabic_ratio (too few Arabic letters), length_ratio (much shorter or longer than the source).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.mix import normalize
from hala_exp.text import arabic_ratio

GATES = ("empty", "cut", "prompt_leak", "echo", "arabic_ratio", "length_ratio")


def is_empty(output: str) -> bool:
    return not output.strip()


def leaks_prompt(output: str, prompt: str, min_chars: int, markers: list[str]) -> bool:
    """The prompt's own words (any fixed part of it of `min_chars` or more) or a chat marker in the output."""
    low = output.casefold()
    parts = [p.strip().casefold() for p in prompt.split("{text}")]
    return any(len(p) >= min_chars and p in low for p in parts) or any(m in output for m in markers)


def echoes_source(source: str, output: str, min_chars: int) -> bool:
    """The output is the source, or holds it whole (sources of at least `min_chars`, compared normalised)."""
    src, out = normalize(source), normalize(output)
    return bool(src) and (src == out or (len(src) >= min_chars and src in out))


def length_ratio_ok(source: str, output: str, low: float, high: float, min_chars: int) -> bool:
    n = len(source.strip())
    return n < min_chars or low <= len(output.strip()) / n <= high


def check(source: str, output: str, finished: bool, prompt: str, g: DictConfig) -> str | None:
    """The first gate this translation trips, or None when it passes."""
    if is_empty(output):
        return "empty"
    if g.reject_cut and not finished:
        return "cut"
    if leaks_prompt(output, prompt, g.leak_min_chars, list(g.leak_markers)):
        return "prompt_leak"
    if echoes_source(source, output, g.echo_min_chars):
        return "echo"
    if arabic_ratio(output) < g.min_arabic_ratio:
        return "arabic_ratio"
    if not length_ratio_ok(source, output, g.min_length_ratio, g.max_length_ratio, g.length_min_chars):
        return "length_ratio"
    return None


def apply_gates(rows: list[dict[str, Any]], prompt: str, g: DictConfig
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, float]]:
    """Split translated rows (translate_rows' output) into (passed, rejected with reasons, metrics).

    A row's `cut` flag says one of its two outputs stopped at the token limit; a rejected row gets
    `reasons`, e.g. ["row:cut"] or ["instruction:echo", "response:arabic_ratio"].
    """
    passed, rejected, by_reason = [], [], Counter()
    for r in rows:
        reasons = []
        if g.enabled and g.reject_cut and r.get("cut", False):
            reasons.append("row:cut")
            by_reason["cut"] += 1
        elif g.enabled:
            for part, src, out in (("instruction", r["instr_en"], r["instr_ar"]),
                                   ("response", r["resp_en"], r["resp_ar"])):
                reason = check(src, out, True, prompt, g)
                if reason:
                    reasons.append(f"{part}:{reason}")
                    by_reason[reason] += 1
        (rejected if reasons else passed).append({**r, "reasons": reasons} if reasons else r)
    metrics = {"gates.in": float(len(rows)), "gates.passed": float(len(passed)),
               "gates.rejected": float(len(rejected))}
    metrics.update({f"gates.rejected.{name}": float(by_reason[name]) for name in GATES})
    return passed, rejected, metrics
