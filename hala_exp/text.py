"""Script detection for Arabic output checks."""

from __future__ import annotations

import re

ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
LETTER = re.compile(r"[^\W\d_]")


def has_arabic(text: str) -> bool:
    return ARABIC.search(text) is not None


def arabic_ratio(text: str) -> float:
    """Share of letters that are Arabic script (0 for text without letters)."""
    letters = LETTER.findall(text)
    return sum(1 for c in letters if ARABIC.match(c)) / len(letters) if letters else 0.0
