"""Checks of a source's rows and columns, whichever group reads it."""

from __future__ import annotations

from omegaconf import DictConfig

from hala_exp.config.errors import check_choice, fail
from hala_exp.data.paths import resolve_path
from hala_exp.data.sources import FORMATS


def check_directory(key: str, value: str) -> None:
    """A local path that must be a directory (a model, a dataset folder) is one, not a file."""
    from hala_exp.data.files import kind_problem

    problem = kind_problem(resolve_path(value), "directory")
    if problem:
        fail(key, value, *problem)


def check_local_file(key: str, src: DictConfig) -> None:
    """A local source's file (each file of a `files` glob) exists, is a file, and its first
    megabyte is UTF-8 (the snapshot step reads the rest); hub sources pass."""
    if src.format == "hub":
        return
    from hala_exp.data.files import data_file_problem, kind_problem

    if src.format == "files":
        from hala_exp.data.texts import matched_files

        try:
            paths = [resolve_path(p) for p in matched_files(src)]
        except FileNotFoundError as e:
            fail(f"{key}.path", src.path, str(e), f"point {key}.path at a glob that matches text files")
    else:
        paths = [resolve_path(src.path)]
    for i, path in enumerate(paths):  # a glob's files: each one's kind, the first one's encoding
        problem = data_file_problem(path, src.format) if i == 0 else kind_problem(path, "file")
        if problem:
            fail(f"{key}.path", src.path, *problem)


def check_source_data(key: str, src: DictConfig) -> None:
    """A local source as its readers need it: the file (above), the columns its adapter or `*_field`
    names in its first row, and text in that row's text columns."""
    check_local_file(key, src)
    if src.format == "hub":
        return  # hub rows are checked when the source's snapshot reads them, before any model step
    from hala_exp.data.adapters import check_columns, text_problem
    from hala_exp.data.sources import iter_local

    problem = check_columns(src)
    if problem:
        fail(f"{key}.path", src.path, problem, f"name existing columns in {key}.*_field")
    wrong = text_problem(src, next(iter_local(src)))
    if wrong:
        fail(f"{key}.path", src.path, *wrong)


def check_rows(key: str, src: DictConfig) -> None:
    if src.rows <= 0:
        fail(f"{key}.rows", src.rows, "row counts must be positive",
             f"set {key}.rows to at least 1 (or drop the source)")
    if src.offset < 0:
        fail(f"{key}.offset", src.offset, "must be 0 or more", f"set {key}.offset=0")
    check_choice(f"{key}.format", src.format, FORMATS)
    from hala_exp.data.adapters import ADAPTERS, PARALLEL_ADAPTERS

    check_choice(f"{key}.adapter", src.adapter, tuple(PARALLEL_ADAPTERS if "ar_field" in src else ADAPTERS))
    if "lang" in src:
        check_choice(f"{key}.lang", src.lang, ("en", "ar"))
        if src.weight is not None and src.weight <= 0:
            fail(f"{key}.weight", src.weight, "weights must be positive",
                 f"set {key}.weight to a positive share, or null to keep every row")
        if not 0.0 <= src.min_english_ratio <= 1.0:
            fail(f"{key}.min_english_ratio", src.min_english_ratio, "must lie in [0, 1]",
                 f"set {key}.min_english_ratio=0.9 (or 0 to keep every row)")


def check_text_source(key: str, src: DictConfig, check_data: bool) -> None:
    if src.rows <= 0:
        fail(f"{key}.rows", src.rows, "row counts must be positive", f"set {key}.rows to at least 1")
    if src.offset < 0:
        fail(f"{key}.offset", src.offset, "must be 0 or more", f"set {key}.offset=0")
    check_choice(f"{key}.format", src.format, (*FORMATS, "files"))
    if src.format != "files" and not src.fields:
        fail(f"{key}.fields", list(src.fields), "names no column to read text from", f"set {key}.fields=[text]")
    if check_data:
        from hala_exp.data.texts import check_text_source, first_row_problem

        check_local_file(key, src)
        problem = check_text_source(key, src)
        if problem:
            fail(f"{key}.path", src.path, problem,
                 f"point {key}.path at existing text and {key}.fields at its columns")
        wrong = first_row_problem(src)
        if wrong:
            fail(f"{key}.path", src.path, *wrong)
