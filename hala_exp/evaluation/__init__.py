"""Evaluation: translation quality metrics and lighteval runs.

The custom tasks (`sample_tasks`, `mmlu_en_tasks`, on `subject_tasks`) and `lighteval_run` import
lighteval (slow) only when used; nothing here does.
"""

from hala_exp.evaluation.metrics import translation_scores

__all__ = ["translation_scores"]
