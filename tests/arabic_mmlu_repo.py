"""A tiny local copy of the MBZUAI/ArabicMMLU dataset repo, built from the bundled sample.

Same layout and columns as the hub repo: one folder per subset with `test.csv` and `dev.csv`
(`ID, Source, Country, Group, Subject, Level, Question, Context, Answer Key, Option 1..5,
is_few_shot`), and a README whose `configs` name the subsets, so `load_dataset(dir, name=subset)`
reads it offline exactly as lighteval's `arabic_mmlu:<subset>` tasks read the hub repo.
"""

from __future__ import annotations

import csv
from pathlib import Path

from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.json_files import read_jsonl

COLUMNS = ["ID", "Source", "Country", "Group", "Subject", "Level", "Question", "Context", "Answer Key",
           "Option 1", "Option 2", "Option 3", "Option 4", "Option 5", "is_few_shot"]
LEVELS = {"High": "High School", "Univ": "University", "Middle": "Middle School", "Primary": "Primary School"}


def subset_name(row: dict) -> str:
    """The hub subset of a sample row: 'Biology' + 'High' -> 'Biology (High School)'."""
    return f"{row['subject']} ({LEVELS[row['level']]})" if row["level"] else row["subject"]


def _hub_row(row: dict, few_shot: int) -> dict:
    options = {f"Option {i + 1}": (row["choices"][i] if i < len(row["choices"]) else "") for i in range(5)}
    return {"ID": row["id"], "Source": "", "Country": row["country"], "Group": row["group"],
            "Subject": row["subject"], "Level": row["level"], "Question": row["question"],
            "Context": row["context"], "Answer Key": row["answer"], **options, "is_few_shot": few_shot}


def write_repo(root: Path, subsets: list[str], rows_per_subset: int) -> dict[str, list[dict]]:
    """Write the repo under `root`; returns the test rows of each subset (sample order)."""
    by_subset: dict[str, list[dict]] = {}
    for row in read_jsonl(SAMPLES_DIR / "arabic_mmlu" / "sample.jsonl"):
        by_subset.setdefault(subset_name(row), []).append(row)
    configs, written = [], {}
    for subset in subsets:
        rows = by_subset[subset]
        test, dev = rows[:rows_per_subset], rows[rows_per_subset:rows_per_subset + 2]
        (root / subset).mkdir(parents=True)
        for split, part, few_shot in (("test", test, 0), ("dev", dev, 1)):
            with open(root / subset / f"{split}.csv", "w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, COLUMNS)
                writer.writeheader()
                writer.writerows(_hub_row(r, few_shot) for r in part)
        configs.append(f'- config_name: "{subset}"\n  data_files:\n'
                       f'  - split: test\n    path: "{subset}/test.csv"\n'
                       f'  - split: dev\n    path: "{subset}/dev.csv"\n')
        written[subset] = test
    (root / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n", encoding="utf-8")
    return written
