"""Source snapshots: each data source read once, every row checked, written as normalised Parquet.

A snapshot is a step of its own (`source.<name>`), keyed by the source's content: the bytes of a
local file (xxh3-128), or the resolved commit of a hub dataset (see `hala_exp.data.content_keys`). Every
step that reads the source reads the snapshot instead, so an edited file re-runs exactly what
depends on it, and a bad row (not UTF-8, a missing column, a duplicate id) or a source that yields
no rows stops the run in the first, cheap steps, before any model loads.

Kinds, by the rows they normalise to:
- chat:        {id, source, lang, messages} (instruction sources through their adapter)
- parallel:    {id, source, ar, en}
- text:        {text} (one document per row and field, or per file)
- preferences: {prompt, chosen, rejected}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hala_exp.data.adapters import Counts
from hala_exp.data.content_keys import local_files
from hala_exp.data.files import data_file_problem
from hala_exp.data.files import first_bad_utf8 as first_bad_utf8  # where tests and tools found it

ROWS = "rows.parquet"
COUNTS = "counts.json"
KINDS = ("chat", "parallel", "text", "preferences")


@functools.cache
def schema(kind: str) -> Any:
    """The Arrow schema of a snapshot of `kind` (pyarrow is imported here, not when planning)."""
    import pyarrow as pa

    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return {
        "chat": pa.schema([("id", pa.string()), ("source", pa.string()), ("lang", pa.string()),
                           ("messages", messages)]),
        "parallel": pa.schema([("id", pa.string()), ("source", pa.string()), ("ar", pa.string()),
                               ("en", pa.string())]),
        "text": pa.schema([("text", pa.string())]),
        "preferences": pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())]),
    }[kind]


class SourceError(ValueError):
    """A source that cannot be used as it is: names the config key, the file or dataset, and the fix."""


def _check_files(key: str, src: DictConfig) -> None:
    """Each local file of the source is a file, and UTF-8 to its last byte (`hala_exp.data.files`)."""
    for path in local_files(src):
        problem = data_file_problem(path, src.format, full=True)
        if problem:
            raise SourceError(f"{key}.path = {src.path!r}: {problem[0]}. Fix: {problem[1]}")


def normalised_rows(kind: str, src: DictConfig, name: str, counts: Counts) -> Iterator[dict[str, Any]]:
    """The source's rows in the kind's normal form, through the same code the stages used to read."""
    if kind == "chat":
        from hala_exp.data.adapters import iter_chat

        yield from iter_chat(src, name, counts)
    elif kind == "parallel":
        from hala_exp.data.adapters import iter_parallel

        yield from iter_parallel(src, name, counts)
    elif kind == "text":
        from hala_exp.data.texts import iter_texts

        yield from ({"text": t} for t in iter_texts(src, counts))
    elif kind == "preferences":
        from hala_exp.data.preferences import iter_pairs

        yield from iter_pairs(src, counts)
    else:
        raise ValueError(f"snapshot kind {kind!r} is not one of {KINDS}")


def _named(key: str, src: DictConfig, rows: Iterator) -> Iterator:
    """The rows, with a reader's error (a missing column, a line that is not JSON, a file pyarrow
    cannot read) re-raised as a SourceError that starts with the config key."""
    import pyarrow.lib

    try:
        yield from rows
    except SourceError:
        raise
    except (ValueError, KeyError, pyarrow.lib.ArrowException) as e:
        raise SourceError(f"{key}.path = {src.path!r}: {e}") from e


def _where(src: DictConfig) -> str:
    return f"rows [{src.offset}, {src.offset + src.rows})"


def write_snapshot(kind: str, src: DictConfig, name: str, key: str, out: Path,
                   batch_rows: int = 4096) -> dict[str, float]:
    """Check every row and write `out/rows.parquet` and `out/counts.json`; SourceError on a bad source.

    `key` is the config key the source sits under (data.bootstrap, eval.heldout.texts.ar), for messages.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala_exp.data.adapters import ids_from_positions

    _check_files(key, src)
    counts = Counts()
    seen: dict[str, int] = {}
    # ids made from row positions are unique by making: not held, so memory stays flat in the row count
    check_ids = not ids_from_positions(kind, src)
    batch: list[dict[str, Any]] = []
    writer = pq.ParquetWriter(out / ROWS, schema(kind))
    try:
        for i, row in _named(key, src, enumerate(normalised_rows(kind, src, name, counts))):
            if check_ids and "id" in row:
                first = seen.setdefault(row["id"], i)
                if first != i:
                    raise SourceError(
                        f"{key}: id {row['id']!r} appears twice ({src.path}, kept rows {first} and {i} of "
                        f"{_where(src)}). Ids key translations, judgements and evaluation samples, so they "
                        f"must be unique. Fix: de-duplicate the file, point {key}.id_field at a unique "
                        f"column, or set {key}.id_field=null (ids from row positions)")
            batch.append(row)
            if len(batch) >= batch_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema(kind)))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema(kind)))
    finally:
        writer.close()
    if counts.kept == 0:
        dropped = ", ".join(f"{v} {k}" for k, v in sorted(counts.dropped.items())) or "none dropped"
        raise SourceError(
            f"{key}: {src.path} gives 0 rows ({_where(src)}: {counts.read} read, {dropped}). "
            f"Fix: lower {key}.offset (past the end of the data gives nothing), raise {key}.rows, or "
            f"point {key}.path at a source with rows")
    (out / COUNTS).write_text(json.dumps({"kind": kind, "read": counts.read, "kept": counts.kept,
                                          "dropped": dict(counts.dropped)}, indent=2, sort_keys=True),
                              encoding="utf-8")
    return counts.as_metrics("rows")


def iter_snapshot(path: str | Path, batch_rows: int = 4096) -> Iterator[dict[str, Any]]:
    """The snapshot's rows in order, a batch at a time (memory flat in the source's size)."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield from batch.to_pylist()


def load_snapshot(path: str | Path) -> list[dict[str, Any]]:
    return list(iter_snapshot(path))


def snapshot_texts(path: str | Path) -> list[str]:
    """A text snapshot's documents."""
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["text"]).column("text").to_pylist()


def snapshot_counts(path: str | Path) -> Counts:
    """What the snapshot read and dropped (its counts.json beside rows.parquet), for the consumer's metrics."""
    from collections import Counter

    c = json.loads((Path(path).parent / COUNTS).read_text(encoding="utf-8"))
    return Counts(read=c["read"], kept=c["kept"], dropped=Counter(c["dropped"]))
