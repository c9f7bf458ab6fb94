"""Keys change exactly where the config change reaches; plan mode needs no ML library."""

from __future__ import annotations

import json
import subprocess
import sys

from hala_exp.config import compose
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys


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
        "source.corpus.orca", "translate_corpus", "sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}


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
    """Nor any other library a stage needs only to run: planning is start-up cost."""
    code = ("import sys; from hala_exp.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'transformers', 'trl', 'mergekit', 'lighteval', 'llmcompressor', 'vllm', "
            "'numpy', 'pyarrow', 'datasets', 'pandas'))))")
    proc = subprocess.run([sys.executable, "-c", "import json\n" + code, "plan=true", f"store={tmp_path}"],
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == []
    assert "24 to run, 0 reused" in proc.stdout
    assert any(line.split()[:2] == ["run", "merge"] for line in lines)


def test_targets_keep_the_named_steps_and_what_they_need_only():
    names = [s.name for s in build_graph(compose(["targets=[validate_teacher,evaluate.translator]"]))]
    assert names == ["source.translation", "source.bootstrap", "source.parallel", "build.teacher", "quantize_teacher", "validate_teacher", "translate_bootstrap", "build.judge",
                     "judge", "build.translator_base", "train_translator", "evaluate.translator"]
    full = step_keys(build_graph(compose()))
    some = step_keys(build_graph(compose(["targets=[evaluate.student_*]"])))
    assert some.items() <= full.items() and "evaluate.teacher" not in some and "evaluate.student_sft" in some


def test_a_target_that_matches_no_step_is_refused_naming_the_steps():
    import pytest

    from hala_exp.config import ConfigError, validate

    with pytest.raises(ConfigError, match=r"targets\[1\] = 'evaluate\.nobody'.*evaluate\.student_merged"):
        validate(compose(["targets=[merge,evaluate.nobody]"]), check_data=False)


def test_translated_data_replaces_the_translation_chain():
    steps = build_graph(compose(["experiment=smollm2_merge", "model=tiny"]))
    by_name = {s.name: s for s in steps}
    assert not {"build.teacher", "judge", "train_translator", "translate_corpus"} & set(by_name)
    assert by_name["sft"].stage == "sft_sources"
    assert by_name["sft"].config["sources"]["tatoeba_en_ar"]["response_field"] == "ar"
    assert {"heldout.student_base", "heldout.student_sft", "heldout.student_merged"} <= set(by_name)


def test_heldout_texts_add_a_heldout_step_per_system_keyed_by_its_texts():
    base = ["eval=heldout"]
    names = [s.name for s in build_graph(compose(base))]
    assert {n for n in names if n.startswith("heldout.")} == {
        "heldout.teacher", "heldout.teacher_fp8", "heldout.translator_base", "heldout.translator",
        "heldout.student_base", "heldout.student_sft", "heldout.student_merged"}
    assert {n for n in changed(base, [*base, "eval.heldout.texts.arabic.rows=10"])} == {
        n for n in names if n.startswith("heldout.")} | {"source.heldout.arabic"}
    assert not any(n.startswith("heldout.") for n in (s.name for s in build_graph(compose())))


def test_the_gguf_model_converts_offline_and_uses_the_hub_id_online(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = [s for s in build_graph(compose(["experiment=smollm2_merge"])) if s.stage != "snapshot"]
    assert offline[0].name == "convert.smollm2_135m" and offline[0].stage == "convert_gguf"
    assert len(offline[0].config["gguf"]["xxh3_128"]) == 32
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    online = build_graph(compose(["experiment=smollm2_merge"]))
    assert "convert.smollm2_135m" not in {s.name for s in online}
    assert {s.name: s for s in online}["sft"].inputs["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    always = [s for s in build_graph(compose(["experiment=smollm2_merge", "model.gguf.use=always"]))
              if s.stage != "snapshot"]
    assert always[0].name == "convert.smollm2_135m"


def test_a_missing_gguf_package_is_refused_with_the_install_command(monkeypatch):
    import pytest

    from hala_exp.config import ConfigError, validate

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = compose(["experiment=smollm2_merge", "model.gguf.package=no_such_gguf_package"])
    with pytest.raises(ConfigError, match=r"model\.gguf\.package = 'no_such_gguf_package'.*pip install"):
        validate(cfg, check_data=False)


def test_start_up_leaves_garbage_collection_on(tmp_path, monkeypatch):
    """The CLI turns collection off while it composes and plans, and on again before it returns."""
    import gc

    from hala_exp.cli import main

    monkeypatch.setattr(sys, "argv", ["hala-exp", "plan=true", f"store={tmp_path / 'store'}",
                                      f"hydra.run.dir={tmp_path / 'run'}"])
    main()
    assert gc.isenabled()
