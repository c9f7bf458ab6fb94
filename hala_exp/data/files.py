"""What a local data file must be before it is read: a file (not a directory), and UTF-8 text.

One home for the two questions every reader of a local source would otherwise answer with a raw
traceback (`IsADirectoryError`, `UnicodeDecodeError`). Each answer is a (problem, fix) pair of
sentences; the config checks put the key and value in front (`hala_exp/config/checks/sources.py`),
the snapshot step a `SourceError` (`hala_exp/data/snapshot.py`).

Encodings: UTF-8 is read, with or without its byte-order mark (EF BB BF, dropped by the readers'
`utf-8-sig`). A UTF-16 or UTF-32 byte-order mark is recognised and named, with the `iconv` command
that converts the file; any other bytes that are not UTF-8 are named by line and byte offset.
Validation reads the first `HEAD_BYTES` of each file; the snapshot step reads every byte.
"""

from __future__ import annotations

import codecs
from pathlib import Path

HEAD_BYTES = 1 << 20  # what validation reads of a file's bytes (the snapshot reads them all)

# Longest first: the UTF-32-LE mark starts with the UTF-16-LE one.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)
TEXT_FORMATS = ("jsonl", "json", "tsv", "csv", "files")  # read as text; parquet is binary (UTF-8 by the format)

Problem = tuple[str, str]  # (what is wrong, how to fix it)


class UnreadableFile(ValueError):
    """A local data file its reader could not read (a directory, bytes that are not UTF-8): the
    message is the (problem, fix) sentence below, raised where no check ran before the reader."""


def kind_problem(path: Path, want: str) -> Problem | None:
    """Whether `path` is the kind of thing expected (`want`: "file" or "directory"), as a (problem, fix)."""
    if not path.exists():
        what = "local file" if want == "file" else "local directory"
        return f"{path} does not exist", f"point it at an existing {what}"
    if want == "file" and path.is_dir():
        return (f"{path} is a directory, and a data file is expected here",
                f"point it at one file inside it (e.g. {path}/train.jsonl)")
    if want == "file" and not path.is_file():
        return f"{path} is not a regular file", "point it at a regular data file"
    if want == "directory" and not path.is_dir():
        return (f"{path} is a file, and a directory is expected here",
                f"point it at the directory that holds it ({path.parent})")
    return None


def first_bad_utf8(path: Path, limit: int | None = None) -> tuple[int, int, bytes] | None:
    """(line, byte offset, bytes) of the first byte sequence that is not UTF-8 in the first `limit`
    bytes (None: all of them), or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with open(path, "rb") as f:
        while (limit is None or offset < limit) and (chunk := f.read(1 << 20 if limit is None else
                                                                     min(1 << 20, limit - offset))):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                return line + chunk[: e.start].count(b"\n"), offset + e.start, chunk[e.start:e.start + 4]
            line += chunk.count(b"\n")
            offset += len(chunk)
    if limit is not None and offset >= limit:
        return None  # a character cut by the limit is not an error
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line, offset, b""
    return None


def byte_order_mark(head: bytes) -> tuple[bytes, str] | None:
    """(mark, encoding) of a UTF-16 / UTF-32 byte-order mark at the start of `head`, else None."""
    return next(((bom, name) for bom, name in BOMS if head.startswith(bom)), None)


def encoding_problem(path: Path, full: bool = False) -> Problem | None:
    """Why `path` cannot be read as UTF-8 (first HEAD_BYTES, or all of it with `full`), else None."""
    with open(path, "rb") as f:
        head = f.read(4)
    found = byte_order_mark(head)
    if found:
        bom, name = found
        family = name[:-2]  # UTF-16 / UTF-32: iconv reads the mark and the byte order itself
        return (f"{path} is {name} text (its first bytes {bom.hex(' ').upper()} are the {family} "
                "byte-order mark), and data files are read as UTF-8",
                f"convert it, e.g. `iconv -f {family} -t UTF-8 {path.name} > {path.stem}.utf8{path.suffix}`, "
                "and point the source at the result")
    bad = first_bad_utf8(path, None if full else HEAD_BYTES)
    if bad:
        line, offset, raw = bad
        return (f"{path} is not UTF-8 (line {line}, byte {offset}: {raw!r})",
                f"re-encode it, e.g. `iconv -f WINDOWS-1256 -t UTF-8 {path.name} > {path.stem}.utf8{path.suffix}` "
                "for Arabic Windows text (`file -i` guesses the encoding), and point the source at the result")
    return None


def data_file_problem(path: Path, fmt: str, full: bool = False) -> Problem | None:
    """A local data file of format `fmt`: one that exists, is a file, and (text formats) is UTF-8."""
    problem = kind_problem(path, "file")
    if problem is None and fmt in TEXT_FORMATS:
        problem = encoding_problem(path, full)
    return problem
