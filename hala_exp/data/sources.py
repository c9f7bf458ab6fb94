"""Read sources: local files directly, hub datasets through `datasets.load_dataset`, one row at a time.

Local files stream (nothing cached in ~/.cache, memory flat in the file's size); hub datasets are
loaded with a row slice, so only the requested rows are materialised (memory-mapped Arrow), or,
with `streaming: true`, read row by row from the hub's files (nothing prepared on disk first: for a
dataset of millions of rows, of which a budget may read only the first few).
What the rows mean is each dataset's adapter's business (hala_exp/data/adapters.py).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.paths import resolve_path

LOCAL_FORMATS = ("jsonl", "json", "tsv", "csv", "parquet")  # what `iter_local` reads
FORMATS = ("hub", *LOCAL_FORMATS)


def get_field(row: dict[str, Any], dotted: str) -> Any:
    """`row["a"]["b"]` for "a.b"; KeyError names the dotted column."""
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


class NotText(TypeError):
    """A text column holding something else (a number, a boolean, a list, a mapping)."""

    def __init__(self, column: str, value: Any):
        super().__init__(column, value)
        self.column, self.value = column, value

    def __str__(self) -> str:
        return f"column {self.column!r} holds {type(self.value).__name__} {_short(self.value)}, not text"


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def as_text(value: Any, column: str) -> str:
    """`value` of a text column: a string as it is, null as "" (an empty text, dropped and counted by
    the reader); NotText for anything else, which would otherwise be trained on as its `str()`."""
    if value is None or isinstance(value, str):
        return value or ""
    raise NotText(column, value)


def text_field(row: dict[str, Any], dotted: str) -> str:
    """The text in `row`'s (dotted) column: KeyError when it is missing, NotText when it is not text."""
    return as_text(get_field(row, dotted), dotted)


def iter_local(src: DictConfig) -> Iterator[dict[str, Any]]:
    """Every row of a local file (jsonl, json, tsv, csv, parquet), as dicts of its own columns.

    Text formats are UTF-8, with or without a byte-order mark (`utf-8-sig` drops it); what else a
    file may be is told before it is read (`hala_exp.data.files`).
    """
    path = resolve_path(src.path)
    try:
        yield from _rows(path, src.format)
    except (UnicodeDecodeError, IsADirectoryError, NotADirectoryError, FileNotFoundError) as e:
        # a reader that was not checked first (validation reads a file's first megabyte, the
        # snapshot step all of it): the same sentence, never the decoder's traceback
        from hala_exp.data.files import UnreadableFile, data_file_problem

        problem, fix = data_file_problem(path, src.format, full=True) or (str(e), "repair the file")
        raise UnreadableFile(f"{problem}. Fix: {fix}") from None


def _rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        with open(path, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path}, line {n}: not a JSON object ({e.msg} at column {e.colno}). "
                                         f"Fix: repair or remove that line (JSON Lines: one object per line)"
                                         ) from None
    elif fmt == "json":  # one JSON array (e.g. GAIR/ReAlign-Alpaca's realign_alpaca.json)
        with open(path, encoding="utf-8-sig") as f:
            yield from json.load(f)
    elif fmt == "tsv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
    elif fmt == "csv":  # quoted fields (MMLU's CSV files)
        with open(path, encoding="utf-8-sig", newline="") as f:
            yield from csv.DictReader(f)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
            yield from batch.to_pylist()
    else:
        raise ValueError(f"format {fmt!r} is not a local format")


def iter_raw(src: DictConfig) -> Iterator[dict[str, Any]]:
    """The source's rows [offset, offset + rows), as dicts of its own columns."""
    if src.format == "hub":
        from datasets import load_dataset

        if src.get("streaming"):
            rows = load_dataset(src.path, src.subset, split=src.split, revision=src.get("revision"), streaming=True)
            yield from islice(rows, src.offset, src.offset + src.rows)
            return
        split = f"{src.split}[{src.offset}:{src.offset + src.rows}]"
        yield from load_dataset(src.path, src.subset, split=split, revision=src.get("revision"))
    else:
        yield from islice(iter_local(src), src.offset, src.offset + src.rows)
