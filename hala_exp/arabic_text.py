"""Script detection and word tokenisation for Arabic output checks and scores."""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
LETTER = re.compile(r"[^\W\d_]")
TATWEEL = "\u0640"


def has_arabic(text: str) -> bool:
    return ARABIC.search(text) is not None


def arabic_ratio(text: str) -> float:
    """Share of letters that are Arabic script (0 for text without letters)."""
    letters = LETTER.findall(text)
    return sum(1 for c in letters if ARABIC.match(c)) / len(letters) if letters else 0.0


@cache
def _word_run() -> re.Pattern[str]:
    """`\\w` plus every combining mark (category M): built once per process from unicodedata (~0.4 s)."""
    ranges, start = [], None
    for cp in range(sys.maxunicode + 2):
        mark = cp <= sys.maxunicode and unicodedata.category(chr(cp)).startswith("M")
        if mark and start is None:
            start = cp
        elif not mark and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{cp - 1:08x}")
            start = None
    return re.compile(f"[\\w{''.join(ranges)}]+")


def words(text: str) -> list[str]:
    """Words of any script, each kept whole with its diacritics.

    `\\w+` splits vocalised Arabic at every mark (`شغّل` -> `شغ`, `ل`) because combining marks
    (Unicode category M) are not `\\w`; here a word is a run of `\\w` characters and marks. The text
    is NFC-normalised first (one order for stacked marks, e.g. shadda + fatha) and tatweel, a
    typographic stretch, is dropped (`كـتـاب` is `كتاب`). Punctuation and spaces separate words;
    runs with no letter or digit (a stray mark, `__`) are not words.
    """
    runs = (w.replace(TATWEEL, "") for w in _word_run().findall(unicodedata.normalize("NFC", text)))
    return [w for w in runs if any(c.isalnum() for c in w)]
