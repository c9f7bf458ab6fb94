"""lighteval tasks on a local folder of multiple-choice jsonl rows: one task per subject.

A custom-tasks module (`sample_tasks`, `mmlu_en_tasks`) names its task, prompt and metrics and gets
`<task>:<subject_slug>` for every subject of its data, so every subject gets its own score. Asking
lighteval for `<task>|0` runs all of them: its registry expands a name with no `:` into every task
that shares the prefix (a "superset"), and reports their unweighted mean as `<task>:_average|0`.

The folder's jsonl files must have a `subject` column, and their names must not look like split
names: they then all form split `train`, which the tasks evaluate, zero-shot (no few-shot split).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from lighteval.metrics.metrics import Metrics
from lighteval.metrics.utils.metric_utils import Metric
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.requests import Doc


def subject_slug(subject: str) -> str:
    """'Political Science' -> 'political_science' (task names must not hold spaces, `|` or `:`)."""
    return re.sub(r"[^0-9a-z]+", "_", subject.lower()).strip("_")


def read_subjects(data_dir: str | Path) -> list[str]:
    """Distinct subjects in the folder's jsonl files, sorted."""
    subjects: set[str] = set()
    files = sorted(Path(data_dir).glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no .jsonl files in {data_dir}")
    for path in files:
        with open(path, encoding="utf-8") as f:
            subjects.update(json.loads(line)["subject"] for line in f if line.strip())
    return sorted(subjects)


def _is_subject(subject: str, line: dict[str, Any]) -> bool:
    return line["subject"] == subject


def build_subject_tasks(task: str, data_dir: str | Path, prompt_function: Callable[..., Doc],
                        metrics: list[Metric | Metrics]) -> list[LightevalTaskConfig]:
    """`<task>:<subject_slug>` for every subject in `data_dir`, each on that subject's rows."""
    data_dir = Path(data_dir).resolve()
    return [
        LightevalTaskConfig(
            name=f"{task}:{subject_slug(subject)}",
            prompt_function=prompt_function,
            hf_repo=str(data_dir),
            hf_subset="default",
            hf_filter=partial(_is_subject, subject),
            hf_avail_splits=["train"],
            evaluation_splits=["train"],
            few_shots_split=None,
            few_shots_select="sequential",
            metrics=list(metrics),
            generation_size=-1,
            stop_sequence=None,
            version=0,
        )
        for subject in read_subjects(data_dir)
    ]
