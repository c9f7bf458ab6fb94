"""Read instruction and parallel sources into plain rows with stable ids.

Local files are read directly (fast, nothing cached in ~/.cache); hub datasets go through
`datasets.load_dataset` with a row slice, so only the requested rows are materialised.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.paths import resolve_path


def _get(row: dict[str, Any], dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _iter_local(src: DictConfig) -> Iterator[dict[str, Any]]:
    path = resolve_path(src.path)
    if src.format == "jsonl":
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    elif src.format == "tsv":
        with open(path, encoding="utf-8", newline="") as f:
            yield from csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
    elif src.format == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
    else:
        raise ValueError(f"format {src.format!r} is not a local format")


def iter_raw(src: DictConfig) -> Iterator[dict[str, Any]]:
    """The source's rows [offset, offset + rows), as dicts of its own columns."""
    if src.format == "hub":
        from datasets import load_dataset

        split = f"{src.split}[{src.offset}:{src.offset + src.rows}]"
        yield from load_dataset(src.path, src.subset, split=split)
    else:
        yield from islice(_iter_local(src), src.offset, src.offset + src.rows)


def _row_id(src: DictConfig, name: str, row: dict[str, Any], index: int) -> str:
    if src.id_field:
        return str(_get(row, src.id_field))
    return f"{name}-{src.offset + index}"


def load_instructions(src: DictConfig, name: str) -> list[dict[str, str]]:
    """Rows of {id, source, instruction, response}."""
    out = []
    for i, row in enumerate(iter_raw(src)):
        out.append({"id": _row_id(src, name, row, i), "source": name,
                    "instruction": str(_get(row, src.instruction_field)),
                    "response": str(_get(row, src.response_field))})
    return out


def load_parallel(src: DictConfig, name: str) -> list[dict[str, str]]:
    """Rows of {id, source, ar, en}."""
    out = []
    for i, row in enumerate(iter_raw(src)):
        out.append({"id": _row_id(src, name, row, i), "source": name,
                    "ar": str(_get(row, src.ar_field)), "en": str(_get(row, src.en_field))})
    return out


def check_columns(src: DictConfig) -> str | None:
    """For a local source: a sentence saying which needed column is missing, else None.

    Hub sources are checked when their rows are loaded, before the stage loads a model.
    """
    if src.format == "hub":
        return None
    path = resolve_path(src.path)
    if not path.exists():
        return f"file {path} does not exist"
    first = next(_iter_local(src), None)
    if first is None:
        return f"file {path} has no rows"
    needed = [f for f in ("id_field", "instruction_field", "response_field", "ar_field", "en_field")
              if f in src and src[f]]
    for f in needed:
        try:
            _get(first, src[f])
        except KeyError:
            return (f"column {src[f]!r} (set by .{f}) is not in {path.name}; "
                    f"its columns are {sorted(first)}")
    return None
