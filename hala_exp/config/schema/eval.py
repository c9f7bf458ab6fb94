"""Evaluation: translation quality, lighteval suites and held-out loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import MISSING

from hala_exp.config.schema.sources import ParallelSourceConfig, TextSourceConfig


@dataclass
class MMLUSideConfig:
    """One side of the aligned MMLU questions: a hub dataset or a local csv / jsonl / parquet file."""

    path: str = MISSING
    format: str = "hub"  # hub | csv | jsonl | parquet
    subset: Optional[str] = None
    split: str = "test"
    question_field: str = "question"
    subject_field: str = "subject"


@dataclass
class AlignedMMLUConfig:
    """English MMLU aligned with its Arabic translation by subject and row (paper, Table 2)."""

    en: MMLUSideConfig = field(default_factory=lambda: MMLUSideConfig(path="cais/mmlu", subset="all"))
    ar: MMLUSideConfig = field(default_factory=lambda: MMLUSideConfig(
        path="openai/MMMLU", subset="AR_XY", question_field="Question", subject_field="Subject"))


@dataclass
class TranslationEvalConfig:
    """EN->AR translation quality: BLEU (13a), chrF++ and ROUGE-L F1 on aligned pairs."""

    # Aligned pairs; also the FP8 teacher's probe set. Scored unless `mmlu` is set.
    source: ParallelSourceConfig = MISSING
    mmlu: Optional[AlignedMMLUConfig] = None  # the paper's protocol: n items of MMLU x MMMLU (Arabic)
    # Every system but the specialised translator gets this prompt (paper, Table 2 protocol).
    prompt: str = "Translate everything that follows into Arabic: {text}"
    n: int = 500
    seed: int = 1234
    max_new_tokens: int = 512


@dataclass
class CustomTasksConfig:
    """A lighteval custom-tasks module and the data its tasks read."""

    module: str = MISSING  # module path or file with LightevalTaskConfig objects (TASKS_TABLE)
    data_dir: Optional[str] = None  # null: the module's own data; else its build_tasks(data_dir)


@dataclass
class LightevalConfig:
    tasks: list[str] = field(default_factory=list)  # lighteval task names "task|fewshot"; "task" = all subsets
    exclude: list[str] = field(default_factory=list)  # subsets left out of a task ("arabic_mmlu:All")
    # Custom-task modules, each with the data its tasks read (eval/smoke_en: the Arabic and the English
    # sample tasks in one suite).
    custom_tasks: list[CustomTasksConfig] = field(default_factory=list)
    # What `custom_tasks` replaced (one module and its data, then more in a second list): refused when
    # set, naming the list form.
    data_dir: Optional[str] = None
    extra_custom_tasks: Optional[list[CustomTasksConfig]] = None
    # Offline clusters: task name -> local copy of its dataset repo (read with load_dataset(dir, subset)).
    data_dirs: dict[str, str] = field(default_factory=dict)
    # Roll-up: "<suite>.<task>" = mean over the task's subsets of `metric`, "<suite>.average" = mean of
    # the tasks (0-100). null: no roll-up.
    suite: Optional[str] = None
    metric: str = "acc"
    max_samples: Optional[int] = None
    batch_size: int = 8  # questions per forward batch
    # Tasks (subsets) one lighteval run evaluates, each group committed on its own so a kill loses one
    # group; null: the tasks split evenly over the step's workers (one group when it has one worker).
    tasks_per_shard: Optional[int] = None


@dataclass
class HeldoutConfig:
    """Mean token loss per language on text no stage trains on, for every system (evaluation/heldout.py)."""

    texts: dict[str, TextSourceConfig] = field(default_factory=dict)  # language -> text; empty: no step
    batch_size: int = 16
    max_length: int = 256  # longer texts are cut to this many tokens


@dataclass
class EvalConfig:
    name: str = MISSING
    lighteval: LightevalConfig = field(default_factory=LightevalConfig)
    translation: TranslationEvalConfig = MISSING
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)
