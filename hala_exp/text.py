"""Script detection and word tokenisation for Arabic output checks and scores."""

from __future__ import annotations

import itertools
import re
import unicodedata

ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
LETTER = re.compile(r"[^\W\d_]")
TATWEEL = "\u0640"


def has_arabic(text: str) -> bool:
    return ARABIC.search(text) is not None


def arabic_ratio(text: str) -> float:
    """Share of letters that are Arabic script (0 for text without letters)."""
    letters = LETTER.findall(text)
    return sum(1 for c in letters if ARABIC.match(c)) / len(letters) if letters else 0.0


def _in_word(ch: str) -> bool:
    """Letters, digits, `_` (what `\\w` matches) and combining marks (harakat, shadda, tanwin)."""
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def words(text: str) -> list[str]:
    """Words of any script, each kept whole with its diacritics.

    `\\w+` splits vocalised Arabic at every mark (`شغّل` -> `شغ`, `ل`) because combining marks
    (Unicode category M) are not `\\w`; here a word is a run of `\\w` characters and marks. The text
    is NFC-normalised first (one order for stacked marks, e.g. shadda + fatha) and tatweel, a
    typographic stretch, is dropped (`كـتـاب` is `كتاب`). Punctuation and spaces separate words;
    runs with no letter or digit (a stray mark) are not words.
    """
    text = unicodedata.normalize("NFC", text)
    runs = ("".join(chars).replace(TATWEEL, "") for inside, chars in itertools.groupby(text, _in_word) if inside)
    return [w for w in runs if any(c.isalnum() for c in w)]
