"""Load lighteval's task registry with no download: two task files fetch data when imported.

Shared by the task-name check (`evaluation.suites`) and the evaluation itself (`lighteval_run`).
"""

from __future__ import annotations

import importlib
import importlib.util
import types
from pathlib import Path


def block_tiny_benchmarks_download() -> None:
    """Import lighteval's tinyBenchmarks tasks without their GitHub download.

    Loading the task registry imports every task file, and that one fetches `tinyBenchmarks.pkl`
    at import time, which crashes offline. We never run those tasks, so when the file is absent
    the module is imported once with the HTTP GET answering 404 (it then skips the write); the
    registry reuses the module from `sys.modules`.
    """
    import sys

    if "lighteval.tasks.tasks.tiny_benchmarks" in sys.modules:
        return
    spec = importlib.util.find_spec("lighteval.tasks.tasks.tiny_benchmarks")
    if spec is None or spec.origin is None or (Path(spec.origin).parent / "tinyBenchmarks.pkl").exists():
        return
    import requests

    real_get = requests.get
    requests.get = lambda *a, **k: types.SimpleNamespace(status_code=404, content=b"")  # type: ignore[assignment]
    try:
        importlib.import_module("lighteval.tasks.tasks.tiny_benchmarks")
    finally:
        requests.get = real_get


IFEVAL_UTILS = "lighteval.tasks.tasks.ifeval.instructions_utils"


def block_nltk_download() -> None:
    """Import lighteval's IFEval helpers without their NLTK download.

    Loading the task registry imports every task file, and IFEval's helpers call `nltk.download`
    for punkt and punkt_tab at import time when NLTK cannot find them: a request to GitHub on every
    evaluation (offline it prints errors; behind a firewall that drops packets it waits for
    timeouts). No task we run needs punkt (IFEval and IFBench do), and no package registry the
    install uses ships NLTK's data, so the module is imported once with the download answering
    "not installed"; the registry reuses it from `sys.modules`. An IFEval task run anyway fails at
    its first use with NLTK's own LookupError, which says how to install punkt. Where punkt is
    installed (NLTK_DATA, `<venv>/share/nltk_data`) the module finds it and nothing changes.
    """
    import sys

    if IFEVAL_UTILS in sys.modules:
        return
    try:
        if importlib.util.find_spec(IFEVAL_UTILS) is None:
            return
    except ModuleNotFoundError:  # an older lighteval without that task
        return
    import nltk

    real_download = nltk.download
    nltk.download = lambda *a, **k: False  # type: ignore[assignment]
    try:
        importlib.import_module(IFEVAL_UTILS)
    finally:
        nltk.download = real_download
