"""What counts as a duplicate in a mix: the modes, the text normal form and the content hash.

Light on purpose (no numpy, no pyarrow): config validation reads `DEDUP_MODES` from here.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata

DEDUP_MODES = ("none", "exact", "normalized")


# ASCII letters and digits kept (lower-cased), every other byte a space: the fast path for English.
_ASCII = bytes((c | 32 if 65 <= c <= 90 else c) if chr(c).isalnum() and c < 128 else 32 for c in range(256))


@functools.cache
def _unicode_table() -> dict[int, str]:
    """Punctuation, symbols, separators, controls and '_' -> space (built once, ~9K code points)."""
    return {cp: " " for cp in range(sys.maxunicode + 1)
            if unicodedata.category(chr(cp))[0] in "PSZ" or unicodedata.category(chr(cp)) in ("Cc", "Cf")
            or cp == 0x5F}


def normalize(text: str) -> str:
    """Text as de-duplication compares it: NFKC, case-folded, punctuation and spacing collapsed."""
    if text.isascii():
        return b" ".join(text.encode().translate(_ASCII).split()).decode()
    return " ".join(unicodedata.normalize("NFKC", text).casefold().translate(_unicode_table()).split())


def content_hash(messages: list[dict[str, str]], mode: str) -> int:
    """64-bit hash of a conversation's roles and text (stable across processes, unlike hash())."""
    norm = normalize if mode == "normalized" else (lambda t: t)
    h = hashlib.blake2b(digest_size=8)
    for m in messages:
        h.update(m["role"].encode())
        h.update(b"\x00")
        h.update(norm(m["content"]).encode())
        h.update(b"\x01")
    return int.from_bytes(h.digest(), "little")
