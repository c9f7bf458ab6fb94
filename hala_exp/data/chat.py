"""The one row schema every instruction source is normalised to: {id, source, lang, messages}.

`messages` is a list of {role, content} with roles system | user | assistant | tool, as chat
templates expect. Translation works on one exchange per row (the first user turn and the assistant
reply that follows it), which is how the recipe's sources are single-turn for the most part.
"""

from __future__ import annotations

import itertools
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
Message = dict[str, str]


def chat_row(row_id: str, source: str, messages: list[Message], lang: str = "en") -> dict[str, Any]:
    return {"id": row_id, "source": source, "lang": lang, "messages": messages}


def problem(messages: list[Message]) -> str | None:
    """Why a conversation cannot be used ("empty", "no_exchange", "bad_role"), or None."""
    if any(m["role"] not in ROLES for m in messages):
        return "bad_role"
    if any(m["role"] in ("user", "assistant") and not m["content"].strip() for m in messages):
        return "empty"
    if first_exchange(messages) is None:
        return "no_exchange"
    return None


def first_exchange(messages: list[Message]) -> tuple[str, str] | None:
    """(user, assistant): the first user turn and the reply right after it, or None."""
    for a, b in itertools.pairwise(messages):
        if a["role"] == "user" and b["role"] == "assistant":
            return a["content"], b["content"]
    return None


def to_instruction(row: dict[str, Any]) -> dict[str, str]:
    """A chat row as the translation stages read it: {id, source, instruction, response}."""
    user, assistant = first_exchange(row["messages"])  # adapters only emit rows that have one
    return {"id": row["id"], "source": row["source"], "instruction": user, "response": assistant}
