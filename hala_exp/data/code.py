"""Decide whether a conversation is a code sample, so code can be kept out of a translated mix.

Translating code into Arabic breaks it, so the recipe removes code samples (Hermes-3). A text is
code when it holds a fenced block (```), or when at least `min_lines` of its non-empty lines, and
at least `min_share` of them, look like program lines (keywords that open statements, lines that
end in `;` `{` `}`, includes, shebangs, HTML tags).
"""

from __future__ import annotations

import re

FENCE = "```"
CODE_LINE = re.compile(
    r"""^\s*(
        (def|class|import|from\s+\S+\s+import|return|elif|except|try:|finally:|lambda|async\s+def)\b
      | (public|private|protected|static|void|int|float|double|char|bool|auto|template)\s+\w+[^.!?]*[;{(]
      | (function|const|let|var)\s+\w+\s*[=(]
      | \#include\b | \#!/ | <\?php | </?[a-zA-Z][\w-]*(\s[^>]*)?>\s*$
      | (SELECT|INSERT|UPDATE|DELETE|CREATE)\s.+\b(FROM|INTO|SET|TABLE)\b
      | .*[;{]\s*$ | \s*[})\]];?\s*$
      | (for|while|if)\s*\(.*\)\s*\{?\s*$
    )""",
    re.VERBOSE,
)


def looks_like_code(text: str, min_lines: int = 3, min_share: float = 0.3) -> bool:
    if FENCE in text:
        return True
    lines = [ln for ln in text.splitlines() if ln.strip()]
    hits = sum(1 for ln in lines if CODE_LINE.match(ln))
    return hits >= min_lines and hits >= min_share * len(lines)


def conversation_has_code(messages: list[dict[str, str]]) -> bool:
    return any(looks_like_code(m["content"]) for m in messages)
