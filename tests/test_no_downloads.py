"""Loading lighteval's task registry (every evaluation, and the task-name check) downloads nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Records every NLTK download request instead of making it (however `download` was bound: every
# path goes through Downloader.incr_download); prints them as JSON at exit.
RECORD_DOWNLOADS = """
import atexit, json, nltk.downloader as d
calls = []
d.Downloader.incr_download = lambda self, info_or_id, *a, **k: calls.append(str(info_or_id)) or iter(())
atexit.register(lambda: print("DOWNLOADS " + json.dumps(calls)))
"""


def _downloads(code: str, tmp_path) -> list[str]:
    env = {"NLTK_DATA": str(tmp_path / "nltk_data"), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", RECORD_DOWNLOADS + code], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("DOWNLOADS "))
    return json.loads(line.removeprefix("DOWNLOADS "))


def test_loading_the_task_registry_requests_no_nltk_download(tmp_path):
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab")
        installed = True
    except LookupError:
        installed = False
    if not installed:  # the request this guards against is real: IFEval's module makes it on import
        assert "punkt" in _downloads("import lighteval.tasks.tasks.ifeval.instructions_utils", tmp_path)
    code = ("from hala_exp.evaluation.suites import load_registry\n"
            "assert len(load_registry(None, multilingual=False)) > 100\n")
    assert _downloads(code, tmp_path) == []
