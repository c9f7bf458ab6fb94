"""Adapters: each dataset of the recipe, by its real columns, into chat rows {id, source, lang, messages}.

One function per schema turns a raw row into messages, or into the reason it is dropped (counted
per source in `Counts`, never silently). Ids come from the dataset's id column where it has one,
else "<source name>-<row index>", so they stay stable when a run reads the same rows again.
The loaders at the end (`load_instructions`, `load_parallel`) and the columns check run before any
stage (`check_columns`) read through these adapters; `data.sources` only reads raw rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.chat import Message, chat_row, problem
from hala_exp.data.code import conversation_has_code
from hala_exp.data.paths import resolve_path
from hala_exp.data.sources import NotText, _short, as_text, get_field, iter_local, iter_raw, text_field

LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
LETTER = re.compile(r"[^\W\d_]")
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant",
                  "assistant": "assistant", "tool": "tool", "function_response": "tool"}
# hammh0a/Hala-4.6M-SFT's turns: the ShareGPT speakers its translation of each upstream set wrote.
HALA_SFT_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


@dataclass
class Counts:
    """Rows read from a source, rows it yielded and rows dropped by reason."""

    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        out = {f"{prefix}.read": float(self.read), f"{prefix}.kept": float(self.kept)}
        out.update({f"{prefix}.dropped.{k}": float(v) for k, v in sorted(self.dropped.items())})
        return out




class BadRow(ValueError):
    """A row an adapter refuses rather than drops: what is wrong with it (where in the row) and the fix.

    The reader adds the source and the row's index (`_convert`)."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem, fix)
        self.problem, self.fix = problem, fix


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _pair(user: Any, assistant: Any, system: Any = None) -> list[Message]:
    msgs = [{"role": "system", "content": _text(system)}] if _text(system).strip() else []
    return msgs + [{"role": "user", "content": _text(user)}, {"role": "assistant", "content": _text(assistant)}]


def english_ratio(text: str) -> float:
    """Share of letters that are Latin script (1.0 for text without letters)."""
    letters = LETTER.findall(text)
    return sum(1 for c in letters if LATIN.match(c)) / len(letters) if letters else 1.0


def instruction(raw: dict, src: DictConfig) -> list[Message] | str:
    """Any dataset with one instruction column and one response column (dotted names reach in)."""
    return _pair(text_field(raw, src.instruction_field), text_field(raw, src.response_field))


def openorca(raw: dict, src: DictConfig) -> list[Message] | str:
    """Open-Orca/OpenOrca: id, system_prompt (often empty), question, response."""
    return _pair(text_field(raw, "question"), text_field(raw, "response"),
                 as_text(raw.get("system_prompt"), "system_prompt"))


def hermes3(raw: dict, src: DictConfig) -> list[Message] | str:
    """NousResearch/Hermes-3-Dataset: `conversations`, ShareGPT turns {from, value[, weight]}."""
    msgs = []
    for j, turn in enumerate(raw["conversations"]):
        role = SHAREGPT_ROLES.get(turn["from"])
        if role is None:
            return "bad_role"
        msgs.append({"role": role, "content": as_text(turn["value"], f"conversations[{j}].value")})
    if src.drop_code and conversation_has_code(msgs):
        return "code"
    return msgs


def hala_sft(raw: dict, src: DictConfig) -> list[Message] | str:
    """hammh0a/Hala-4.6M-SFT (HALA's released Arabic corpus): `conversations`, ShareGPT turns
    {from: human | gpt | system, value}.

    Strict, unlike `hermes3`: a row of another shape is refused, not dropped and counted, because
    4M machine-made rows are trained on as they are and a shape this adapter does not know means the
    dataset changed under the configured revision; the error names the row and the turn.
    """
    conv = raw["conversations"]
    fix = ("check data.translated.<name>.revision against the dataset card (its turns are "
           "{from: human | gpt | system, value}), repair or drop that row in a local copy, or set offset past it")
    if not isinstance(conv, list) or not conv:
        raise BadRow(f"conversations is {_short(conv)}, not a non-empty list of turns", fix)
    msgs: list[Message] = []
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise BadRow(f"conversations[{j}] is {_short(turn)}, not a turn {{from, value}}", fix)
        role = HALA_SFT_ROLES.get(turn["from"])
        if role is None:
            raise BadRow(f"conversations[{j}].from is {_short(turn['from'])}, not one of "
                         f"{', '.join(HALA_SFT_ROLES)}", fix)
        msgs.append({"role": role, "content": as_text(turn["value"], f"conversations[{j}].value")})
    return msgs


def scp116k(raw: dict, src: DictConfig) -> list[Message] | str:
    """EricLu/SCP-116K: domain, problem and solution columns; `response_field` picks the solution."""
    return _pair(text_field(raw, "problem"), as_text(raw.get(src.response_field), src.response_field))


def realign_alpaca(raw: dict, src: DictConfig) -> list[Message] | str:
    """GAIR/ReAlign-Alpaca (one JSON array): Alpaca's instruction, input (often empty), output."""
    user, extra = text_field(raw, "instruction"), as_text(raw.get("input"), "input")
    if extra.strip():
        user = f"{user}\n\n{extra}"
    return _pair(user, text_field(raw, "output"))


def gptj_pairwise(raw: dict, src: DictConfig) -> list[Message] | str:
    """Dahoas/synthetic-instruct-gptj-pairwise: prompt, chosen, rejected; the chosen reply is kept."""
    return _pair(text_field(raw, "prompt").strip(), text_field(raw, "chosen").strip())


def lamini(raw: dict, src: DictConfig) -> list[Message] | str:
    """MBZUAI/LaMini-instruction: instruction, response, instruction_source."""
    return _pair(text_field(raw, "instruction"), text_field(raw, "response"))


def tulu3(raw: dict, src: DictConfig) -> list[Message] | str:
    """allenai/tulu-3-sft-mixture: id, messages {role, content}, source (the subset it came from).

    English only: rows of subsets listed in `exclude_subsets` are dropped (the multilingual Aya
    subset), and rows whose user and assistant text is less Latin than `min_english_ratio` (other
    languages inside mostly-English subsets such as WildChat).
    """
    if raw.get("source") in src.exclude_subsets:
        return "non_english_subset"
    msgs = [{"role": m["role"], "content": as_text(m["content"], f"messages[{j}].content")}
            for j, m in enumerate(raw["messages"])]
    if src.min_english_ratio > 0:
        text = " ".join(m["content"] for m in msgs if m["role"] in ("user", "assistant"))
        if english_ratio(text) < src.min_english_ratio:
            return "non_english_text"
    return msgs


@dataclass(frozen=True)
class Adapter:
    convert: Callable[[dict, DictConfig], list[Message] | str]
    columns: tuple[str, ...]  # columns a local file must have (checked before any model loads)
    id_column: str | None = None


ADAPTERS: dict[str, Adapter] = {
    "instruction": Adapter(instruction, ()),
    "openorca": Adapter(openorca, ("id", "system_prompt", "question", "response"), "id"),
    "hermes3": Adapter(hermes3, ("conversations",)),
    "hala_sft": Adapter(hala_sft, ("conversations",)),
    "scp116k": Adapter(scp116k, ("domain", "problem")),
    "realign_alpaca": Adapter(realign_alpaca, ("instruction", "input", "output")),
    "gptj_pairwise": Adapter(gptj_pairwise, ("prompt", "chosen", "rejected")),
    "lamini": Adapter(lamini, ("instruction", "response", "instruction_source")),
    "tulu3": Adapter(tulu3, ("id", "messages", "source"), "id"),
}
PARALLEL_ADAPTERS: dict[str, tuple[str, str] | None] = {
    "parallel": None,  # columns named by ar_field / en_field
    "opus100": ("translation.ar", "translation.en"),  # Helsinki-NLP/opus-100, config ar-en
}


def id_column(src: DictConfig, adapter_column: str | None) -> str | None:
    """The column a source's ids come from, or None: ids are "<source>-<row index>", unique by making."""
    return src.get("id_field") if src.adapter in ("instruction", "parallel") else adapter_column


def ids_from_positions(kind: str, src: DictConfig) -> bool:
    """Whether the snapshot's ids are row positions (so a duplicate cannot happen and is not looked for)."""
    if kind == "chat":
        return not id_column(src, ADAPTERS[src.adapter].id_column)
    return kind == "parallel" and not id_column(src, None)


def _row_id(src: DictConfig, name: str, raw: dict, index: int, adapter_column: str | None) -> str:
    column = id_column(src, adapter_column)
    if column:
        return str(get_field(raw, column))
    return f"{name}-{src.offset + index}"


class SchemaError(ValueError):
    """A row lacks a column its adapter reads: names the source, the adapter and the columns found."""


def _missing(name: str, src: DictConfig, what: str, column: object, raw: dict, index: int) -> SchemaError:
    return SchemaError(f"data source {name!r} ({src.path}): row {src.offset + index} has no column {column} "
                       f"({what}); its columns are {sorted(raw)}. Fix: pick the adapter or *_field that "
                       f"matches this dataset (hala_exp/data/adapters.py), point path at the right dataset, "
                       f"or repair the row")


def not_text(e: NotText, row: int) -> tuple[str, str]:
    """(problem, fix) for a text column of row number `row` that holds something else."""
    quoted = f' (in JSON, quote it: "{e.value}")' if isinstance(e.value, (int, float)) else ""
    return (f"row {row}, {e}",
            f"make every value of column {e.column!r} a string{quoted}, or point the source at the column "
            f"that holds the text (its adapter, *_field or fields)")


def not_text_error(source: str, src: DictConfig, e: NotText, index: int) -> SchemaError:
    """The SchemaError for row `index` (counted from the source's offset) of `source` (its words)."""
    problem, fix = not_text(e, src.offset + index)
    return SchemaError(f"{source}: {problem}. Fix: {fix}")


def _convert(adapter: Adapter, raw: dict, src: DictConfig, name: str, index: int) -> list[Message] | str:
    try:
        return adapter.convert(raw, src)
    except KeyError as e:
        raise _missing(name, src, f"read by adapter {src.adapter!r}", e, raw, index) from None
    except NotText as e:
        raise not_text_error(f"data source {name!r} ({src.path})", src, e, index) from None
    except BadRow as e:
        raise SchemaError(f"data source {name!r} ({src.path}): row {src.offset + index}: {e.problem}. "
                          f"Fix: {e.fix}") from None


def iter_chat(src: DictConfig, name: str, counts: Counts | None = None) -> Iterator[dict[str, Any]]:
    """Chat rows of one source, in the source's order; `counts` collects what was read and dropped."""
    counts = counts if counts is not None else Counts()
    adapter = ADAPTERS[src.adapter]
    for i, raw in enumerate(iter_raw(src)):
        counts.read += 1
        result = _convert(adapter, raw, src, name, i)
        reason = result if isinstance(result, str) else problem(result)
        if reason:
            counts.dropped[reason] += 1
            continue
        counts.kept += 1
        try:
            row_id = _row_id(src, name, raw, i, adapter.id_column)
        except KeyError as e:
            raise _missing(name, src, "its id column, id_field", e, raw, i) from None
        yield chat_row(row_id, name, result, src.lang)


def iter_parallel(src: DictConfig, name: str, counts: Counts | None = None) -> Iterator[dict[str, str]]:
    """Rows {id, source, ar, en}; pairs with an empty side are dropped and counted."""
    counts = counts if counts is not None else Counts()
    ar_field, en_field = PARALLEL_ADAPTERS[src.adapter] or (src.ar_field, src.en_field)
    for i, raw in enumerate(iter_raw(src)):
        counts.read += 1
        try:
            ar, en = text_field(raw, ar_field).strip(), text_field(raw, en_field).strip()
            row_id = _row_id(src, name, raw, i, None)
        except KeyError as e:
            raise _missing(name, src, "named by ar_field / en_field / id_field", e, raw, i) from None
        except NotText as e:
            raise not_text_error(f"data source {name!r} ({src.path})", src, e, i) from None
        if not ar or not en:
            counts.dropped["empty"] += 1
            continue
        counts.kept += 1
        yield {"id": row_id, "source": name, "ar": ar, "en": en}


def needed_columns(src: DictConfig) -> list[tuple[str, str]]:
    """(column, config key that names it) pairs a local file of this source must have."""
    if "chosen_field" in src:  # preference pairs (dpo.preferences)
        return [(src[f], f) for f in ("prompt_field", "chosen_field", "rejected_field")]
    if "ar_field" in src:
        fields = PARALLEL_ADAPTERS[src.adapter] or (src.ar_field, src.en_field)
        out = [(fields[0], "ar_field"), (fields[1], "en_field")]
    elif src.adapter == "instruction":
        out = [(src.instruction_field, "instruction_field"), (src.response_field, "response_field")]
    else:
        out = [(c, "adapter") for c in ADAPTERS[src.adapter].columns]
        if src.adapter == "scp116k":
            out.append((src.response_field, "response_field"))
    if src.get("id_field") and src.adapter in ("instruction", "parallel"):
        out.append((src.id_field, "id_field"))
    return out


def load_instructions(src: DictConfig, name: str) -> list[dict[str, str]]:
    """Rows of {id, source, instruction, response}: each chat row's first exchange."""
    from hala_exp.data.chat import to_instruction

    return [to_instruction(r) for r in iter_chat(src, name)]


def load_parallel(src: DictConfig, name: str) -> list[dict[str, str]]:
    """Rows of {id, source, ar, en}."""
    return list(iter_parallel(src, name))


def text_problem(src: DictConfig, row: dict) -> tuple[str, str] | None:
    """(problem, fix) when a text column of `row` (a local file's first row, whose columns are there)
    holds something other than text, else None; every row is checked when the source is snapshot."""
    try:
        if "chosen_field" in src:
            for f in ("prompt_field", "chosen_field", "rejected_field"):
                text_field(row, src[f])
        elif "ar_field" in src:
            for column in PARALLEL_ADAPTERS[src.adapter] or (src.ar_field, src.en_field):
                text_field(row, column)
        else:
            ADAPTERS[src.adapter].convert(row, src)
    except NotText as e:
        return not_text(e, 0)
    except (KeyError, TypeError, AttributeError, BadRow):  # a malformed row: the snapshot step names it
        return None
    return None


def check_columns(src: DictConfig) -> str | None:
    """For a local source: a sentence saying which needed column is missing, else None.

    Hub sources are checked when their rows are loaded, before the stage loads a model.
    """
    if src.format == "hub":
        return None
    path = resolve_path(src.path)
    if not path.exists():
        return f"file {path} does not exist"
    first = next(iter_local(src), None)
    if first is None:
        return f"file {path} has no rows"
    for column, key in needed_columns(src):
        try:
            get_field(first, column)
        except KeyError:
            what = f"set by .{key}" if key != "adapter" else f"needed by adapter {src.adapter!r}"
            return f"column {column!r} ({what}) is not in {path.name}; its columns are {sorted(first)}"
    return None
