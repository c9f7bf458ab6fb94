"""A custom lighteval task's own files are keyed by their content: editing its data re-scores."""

from __future__ import annotations

import shutil

from hala_exp.config import compose
from hala_exp.data.paths import SAMPLES_DIR
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys


def _lighteval_keys(*overrides: str) -> dict[str, str]:
    steps = build_graph(compose(list(overrides)))
    keys = step_keys(steps)
    return {s.name: keys[s.name] for s in steps if s.stage == "evaluate_lighteval"}


def test_editing_a_custom_tasks_data_or_module_changes_its_steps_keys_and_only_then(tmp_path):
    data = tmp_path / "mmlu"
    shutil.copytree(SAMPLES_DIR / "arabic_mmlu", data)
    module = tmp_path / "my_tasks.py"
    shutil.copy(SAMPLES_DIR.parent.parent / "evaluation" / "sample_tasks.py", module)
    args = (f"store={tmp_path / 'store'}", f"eval.lighteval.custom_tasks=[{{module: '{module}', data_dir: '{data}'}}]")
    before = _lighteval_keys(*args)
    assert before, "the tiny preset has lighteval steps"
    assert _lighteval_keys(*args) == before  # stable while nothing changes

    some = next(p for p in sorted(data.rglob("*")) if p.is_file())
    some.write_bytes(some.read_bytes() + b"\n")
    edited = _lighteval_keys(*args)
    assert all(edited[n] != before[n] for n in before)

    module.write_text(module.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert all(_lighteval_keys(*args)[n] != edited[n] for n in before)


def test_bundled_tasks_keep_their_keys_whatever_the_store():
    assert _lighteval_keys("store=/tmp/a") == _lighteval_keys("store=/tmp/b")
