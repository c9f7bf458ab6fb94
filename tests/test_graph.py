"""Keys change exactly where the config change reaches; plan mode needs no ML library."""

from __future__ import annotations

import json
import subprocess
import sys

from hala_exp.config import compose
from hala_exp.pipeline.graph import build_graph, step_keys


def changed(a: list[str], b: list[str]) -> set[str]:
    ka, kb = step_keys(build_graph(compose(a))), step_keys(build_graph(compose(b)))
    assert ka.keys() == kb.keys()
    return {n for n in ka if ka[n] != kb[n]}


def test_graph_covers_the_recipe():
    names = [s.name for s in build_graph(compose())]
    for stage in ("quantize_teacher", "translate_bootstrap", "judge", "train_translator", "translate_corpus",
                  "sft", "merge"):
        assert stage in names
    assert {n for n in names if n.startswith("evaluate.")} == {
        "evaluate.teacher", "evaluate.teacher_fp8", "evaluate.translator_base", "evaluate.translator",
        "evaluate.student_base", "evaluate.student_sft", "evaluate.student_merged"}


def test_merge_t_reaches_merge_and_its_evaluation_only():
    assert changed([], ["merge.t=0.25"]) == {"merge", "evaluate.student_merged"}


def test_data_mix_reaches_translate_corpus_onwards():
    assert changed([], ["data.corpus.orca.rows=40"]) == {
        "translate_corpus", "sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}


def test_teacher_prompt_reaches_the_teacher_side():
    diff = changed([], ["teacher.prompt='Into Arabic please: {text}'"])
    assert "build.teacher" in diff and "build.student_base" not in diff and "judge" not in diff
    assert "translate_bootstrap" in diff and "train_translator" in diff


def test_logger_and_plan_change_nothing():
    assert changed([], ["logger=wandb", "plan=true"]) == set()


def test_no_fp8_and_no_merge_drop_their_steps():
    names = {s.name for s in build_graph(compose(["teacher.fp8=false", "merge=none"]))}
    assert "quantize_teacher" not in names and "evaluate.teacher_fp8" not in names
    assert "merge" not in names and "evaluate.student_merged" not in names


def test_plan_prints_without_importing_torch(tmp_path):
    code = ("import sys; from hala_exp.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'trl', 'mergekit', 'lighteval', 'llmcompressor', 'vllm'))))")
    proc = subprocess.run([sys.executable, "-c", "import json\n" + code, "plan=true", f"store={tmp_path}"],
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    assert "19 to run, 0 reused" in proc.stdout
    assert any(line.split()[:2] == ["run", "merge"] for line in lines)
