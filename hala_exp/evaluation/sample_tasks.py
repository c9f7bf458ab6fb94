"""lighteval custom tasks: ArabicMMLU-format multiple choice on local jsonl (the bundled sample by default).

One task per subject, `arabic_mmlu_sample:<subject_slug>` (built by `subject_tasks`), so every
subject gets its own score; asking lighteval for `arabic_mmlu_sample|0` runs all of them.

Roll-up: the task score is the **unweighted mean of the per-subject accuracies** (macro average),
which is what lighteval reports as `arabic_mmlu_sample:_average|0` and how the Open Arabic LLM
Leaderboard averages ArabicMMLU's subjects; it is not the accuracy over all pooled questions.

Prompt and metric are the Open Arabic LLM Leaderboard's `arabic_mmlu` ones (lighteval's
`arabic_mmlu_pfn`: Arabic instruction, options keyed أ/ب/ج/د, the model scores the key letters;
accuracy on character-normalised log-likelihood), so sample and leaderboard numbers mean the same
thing. One difference: a row's `context` (8 of 300 in the sample) is put before its question,
where the leaderboard prompt drops it.

The data directory holds jsonl files with the sample's columns (`subject`, `question`, `context`,
`choices`, `answer`). `build_tasks(data_dir)` makes the tasks for another directory; the
module-level `TASKS_TABLE` uses `$HALA_ARABIC_MMLU_DIR` or the bundled sample.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import ascii_uppercase
from typing import Any

from lighteval.metrics.dynamic_metrics import LogLikelihoodAccMetric
from lighteval.metrics.normalizations import LogProbCharNorm
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.multilingual.tasks.arabic import arabic_mmlu_pfn
from lighteval.tasks.requests import Doc

from hala_exp.evaluation.subject_tasks import build_subject_tasks

TASK = "arabic_mmlu_sample"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "samples" / "arabic_mmlu"


def prompt(line: dict[str, Any], task_name: str | None = None) -> Doc:
    """A sample row as the leaderboard's ArabicMMLU row (`Question`, `Option 1..5`, `Answer Key`)."""
    question = f"{line['context']}\n{line['question']}" if line.get("context") else line["question"]
    options = {f"Option {i + 1}": (line["choices"][i] if i < len(line["choices"]) else None) for i in range(5)}
    answer = line.get("answer") or ascii_uppercase[int(line["answer_index"])]
    return arabic_mmlu_pfn({"Question": question, **options, "Answer Key": answer}, task_name=task_name)


def build_tasks(data_dir: str | Path | None = None) -> list[LightevalTaskConfig]:
    """One zero-shot-ready task per subject found in `data_dir`."""
    return build_subject_tasks(TASK, data_dir or DEFAULT_DATA_DIR, prompt,
                               [LogLikelihoodAccMetric(normalization=LogProbCharNorm())])


TASKS_TABLE = build_tasks(os.environ.get("HALA_ARABIC_MMLU_DIR") or DEFAULT_DATA_DIR)
