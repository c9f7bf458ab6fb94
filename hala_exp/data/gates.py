"""Quality gates on translations: each check is a pure function of (source, output), counted by name.

A translated row fails when either of its outputs (instruction, response) trips a gate; it is then
written aside with its reasons instead of into the training data, and every reason is counted in
the stage's metrics. A row whose prompt did not fit the engine's context (`too_long`, see
`engines.base.fits`) was never translated and is always rejected, gates on or off. Gates, in the
order they are checked (the first that trips is the reason): empty, cut (stopped at the token
limit), special_token (a special token of the model's tokenizer in the text), prompt_leak (the
prompt's fixed words or a chat marker), echo (the English came back),
trailing_script (Arabic followed by a note in another script), arabic_ratio (too few Arabic
letters), length_ratio (much shorter or longer than the source).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hala_exp.arabic_text import ARABIC, arabic_ratio, words
from hala_exp.data.mix import normalize

GATES = ("too_long", "empty", "cut", "special_token", "prompt_leak", "echo", "trailing_script", "arabic_ratio",
         "length_ratio")
# Left out before looking for a trailing note: Latin script that belongs in a translation.
_NOT_PROSE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`|\$[^$\n]+\$|https?://\S+|www\.\S+|\S+@\S+\.\w+", re.S)


def is_empty(output: str) -> bool:
    return not output.strip()


def has_special_token(output: str, tokens: Iterable[str]) -> bool:
    return any(t in output for t in tokens)


def _runs(ws: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


@lru_cache(maxsize=8)
def prompt_runs(prompt: str, n: int) -> frozenset[tuple[str, ...]]:
    """Every run of `n` consecutive words inside one fixed part of the prompt (casefolded)."""
    return frozenset().union(*(_runs(words(part.casefold()), n) for part in prompt.split("{text}")))


def leaks_prompt(output: str, prompt: str, min_chars: int, markers: list[str], source: str = "",
                 min_words: int = 0) -> bool:
    """The prompt's own words or a chat marker in the output.

    Leaked words: a whole fixed part of the prompt of `min_chars` or more, or any `min_words`
    consecutive words of one (0: no word check), unless those words are in the source as well
    (then the source, not the prompt, may have brought them).
    """
    low = output.casefold()
    parts = [p.strip().casefold() for p in prompt.split("{text}")]
    if any(len(p) >= min_chars and p in low for p in parts) or any(m in output for m in markers):
        return True
    if min_words <= 0:
        return False
    leaked = _runs(words(low), min_words) & prompt_runs(prompt, min_words)
    return bool(leaked - _runs(words(source.casefold()), min_words))


def trailing_words(output: str, source: str = "") -> list[str]:
    """Words after the output's last Arabic letter in another script that the source does not hold.

    Only words of two or more letters count, casefolded; code spans and blocks, inline math, URLs and
    e-mail addresses are left out first, and so are words of the source: a name, term or identifier
    kept from the English is part of the translation, a note the model added is not. A text with no
    Arabic letter has no trailing words (the arabic_ratio gate judges it).
    """
    text = _NOT_PROSE.sub(" ", output)
    last = next((i for i in range(len(text) - 1, -1, -1) if text[i].isalpha() and ARABIC.match(text[i])), None)
    if last is None:
        return []
    known = set(words(source.casefold()))
    return [w for w in words(text[last + 1:].casefold()) if sum(c.isalpha() for c in w) >= 2 and w not in known]


def echoes_source(source: str, output: str, min_chars: int) -> bool:
    """The output is the source, or holds it whole (sources of at least `min_chars`, compared normalised)."""
    src, out = normalize(source), normalize(output)
    return bool(src) and (src == out or (len(src) >= min_chars and src in out))


def length_ratio_ok(source: str, output: str, low: float, high: float, min_chars: int) -> bool:
    n = len(source.strip())
    return n < min_chars or low <= len(output.strip()) / n <= high


def with_special_tokens(g: DictConfig, tokens: Iterable[str]) -> DictConfig:
    """The gate config for one pass: `special_tokens` plus the model tokenizer's (blank ones dropped)."""
    merged = sorted({t for t in [*g.special_tokens, *tokens] if t.strip()})
    return OmegaConf.merge(g, {"special_tokens": merged})


def check(source: str, output: str, finished: bool, prompt: str, g: DictConfig) -> str | None:
    """The first gate this translation trips, or None when it passes."""
    if is_empty(output):
        return "empty"
    if g.reject_cut and not finished:
        return "cut"
    if g.reject_special_tokens and has_special_token(output, g.special_tokens):
        return "special_token"
    if leaks_prompt(output, prompt, g.leak_min_chars, list(g.leak_markers), source, g.leak_min_words):
        return "prompt_leak"
    if echoes_source(source, output, g.echo_min_chars):
        return "echo"
    if g.trailing_min_words > 0 and len(trailing_words(output, source)) >= g.trailing_min_words:
        return "trailing_script"
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
        if r.get("too_long", False):
            reasons.append("row:too_long")
            by_reason["too_long"] += 1
        elif g.enabled and g.reject_cut and r.get("cut", False):
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
