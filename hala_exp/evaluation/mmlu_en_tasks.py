"""lighteval custom tasks: English MMLU multiple choice on local jsonl (the bundled sample by default).

One task per subject, `mmlu_en_sample:<subject>` (built by `subject_tasks`); asking lighteval for
`mmlu_en_sample|0` runs all 57 of the bundled sample's subjects, and the task score is the
unweighted mean of the per-subject accuracies (lighteval's `mmlu_en_sample:_average|0`).

The prompt is lighteval's own English MMLU one (`lighteval.tasks.tasks.mmlu.mmlu_prompt`, the
prompt of its `mmlu` task: "The following are multiple choice questions (with answers) about
<subject>.", the question, options `A.`..`D.`, "Answer:"), run zero-shot. The model scores the four
continuations " A".." D" by log-likelihood: `acc` is lighteval's `loglikelihood_acc`, the original
MMLU scoring. lighteval's `mmlu` task instead generates up to 5 tokens and scores exact match,
which says little about a small base model. `acc_norm` (character-normalised) is reported beside
it; the four continuations have the same length, so it always equals `acc`, and it lets this task
roll up in a suite whose metric is `acc_norm` (as `eval=smoke_en`).

The data directory holds jsonl files with the sample's columns (`subject`, `question`, `choices`,
`answer` as a letter or 0-based index), the columns of lighteval's `lighteval/mmlu` dataset.
`build_tasks(data_dir)` makes the tasks for another directory; the module-level `TASKS_TABLE`
uses `$HALA_MMLU_EN_DIR` or the bundled sample.
"""

from __future__ import annotations

import os
from pathlib import Path

from lighteval.metrics.dynamic_metrics import LogLikelihoodAccMetric
from lighteval.metrics.metrics import Metrics
from lighteval.metrics.normalizations import LogProbCharNorm
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.tasks.mmlu import mmlu_prompt

from hala_exp.evaluation.subject_tasks import build_subject_tasks

TASK = "mmlu_en_sample"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "samples" / "mmlu_en"


def build_tasks(data_dir: str | Path | None = None) -> list[LightevalTaskConfig]:
    """One zero-shot task per subject found in `data_dir`."""
    return build_subject_tasks(TASK, data_dir or DEFAULT_DATA_DIR, mmlu_prompt,
                               [Metrics.loglikelihood_acc, LogLikelihoodAccMetric(normalization=LogProbCharNorm())])


TASKS_TABLE = build_tasks(os.environ.get("HALA_MMLU_EN_DIR") or DEFAULT_DATA_DIR)
