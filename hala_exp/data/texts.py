"""Plain text from a source: columns of a local file or hub dataset, or the contents of files.

Fertility, tokenizer training and continued pre-training all read raw text, one string per
document; `fields` names the columns to take (list-valued columns such as answer choices are joined).
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from hala_exp.data.adapters import Counts, SchemaError, not_text, not_text_error
from hala_exp.data.paths import resolve_path
from hala_exp.data.sources import NotText, as_text, get_field, iter_raw

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def matched_files(src: DictConfig) -> list[str]:
    """The files [offset, offset + rows) of the source's glob (checking a source reads none of them)."""
    pattern = src.path
    if pattern.startswith("package:"):
        pattern = str(PACKAGE_DIR / pattern.removeprefix("package:"))
    else:
        pattern = str(resolve_path(pattern))
    paths = sorted(glob.glob(pattern, recursive=True))
    if not paths:
        raise FileNotFoundError(f"text source path {src.path!r} matches no files")
    return paths[src.offset:src.offset + src.rows]


def _cell(value: object, column: str) -> str:
    """A text column's value; a list of texts (answer choices) joined a line each; NotText else."""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return as_text(value, column)


def iter_texts(src: DictConfig, counts: Counts | None = None) -> Iterator[str]:
    """The source's documents [offset, offset + rows) as strings; empty ones dropped (and counted)."""
    counts = counts if counts is not None else Counts()
    if src.format == "files":
        for p in matched_files(src):
            counts.read += 1
            text = Path(p).read_text(encoding="utf-8-sig")
            if text.strip():
                counts.kept += 1
                yield text
            else:
                counts.dropped["empty"] += 1
        return
    for i, row in enumerate(iter_raw(src)):
        counts.read += 1
        for f in src.fields:
            try:
                text = _cell(get_field(row, f), f).strip()
            except NotText as e:
                raise not_text_error(f"text source {src.path}", src, e, i) from None
            except KeyError:
                raise SchemaError(f"text source {src.path}: row {src.offset + i} has no column {f!r} (named in "
                                  f"fields); its columns are {sorted(row)}. Fix: list existing columns in "
                                  f"fields, or repair the row") from None
            if text:
                counts.kept += 1
                yield text
            else:
                counts.dropped["empty"] += 1


def load_texts(src: DictConfig) -> list[str]:
    """The source's documents [offset, offset + rows) as strings; empty ones dropped."""
    return list(iter_texts(src))


def check_text_source(key: str, src: DictConfig) -> str | None:
    """A sentence saying why a local source cannot give text, else None (hub sources: None)."""
    if src.format == "hub":
        return None
    if src.format == "files":
        try:
            matched_files(src)
        except FileNotFoundError as e:
            return str(e)
        return None
    path = resolve_path(src.path)
    if not path.exists():
        return f"file {path} does not exist"
    probe = OmegaConf.merge(src, {"rows": 1, "offset": 0})
    first = next(iter_raw(probe), None)
    if first is None:
        return f"file {path} has no rows"
    for f in src.fields:
        try:
            get_field(first, f)
        except KeyError:
            return f"column {f!r} (in {key}.fields) is not in {path.name}; its columns are {sorted(first)}"
    return None


def first_row_problem(src: DictConfig) -> tuple[str, str] | None:
    """(problem, fix) when a column of `fields` in a local source's first row holds something other
    than text (its columns are there: `check_text_source`); every row is checked by the snapshot."""
    if src.format in ("hub", "files"):
        return None
    first = next(iter_raw(OmegaConf.merge(src, {"rows": 1, "offset": 0})), None)
    try:
        for f in src.fields:
            _cell(get_field(first or {}, f), f)
    except NotText as e:
        return not_text(e, 0)
    except KeyError:
        return None
    return None
