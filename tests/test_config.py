"""Every group option and preset composes and validates; bad values fail early, naming the key."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from hala_exp.config import CONF_DIR, ConfigError, compose, validate

# Every config group (conf/<group>/, presets apart): a group added later is covered without an edit here.
GROUPS = sorted(d.name for d in CONF_DIR.iterdir() if d.is_dir() and d.name not in ("experiment", "hydra"))
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]
PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
# runtime=cluster names a site's interpreters: here they are all this one. Its 8 GPUs split the tiny
# models' global batches (8 and 16) only in micro-batches of 1 and 2.
NEEDS = {("runtime", "cluster"): [*(f"runtime.envs.{e}={sys.executable}" for e in ("core", "vllm")),
                                  "model.micro_batch=1", "translator.micro_batch=2"]}


def test_the_groups_are_the_schemas_groups():
    assert len(GROUPS) >= 15 and {"model", "merge", "eval", "runtime", "cluster", "resources", "allam"} <= set(GROUPS)


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes_and_validates(group, option):
    cfg = compose([f"{group}={option}", *NEEDS.get((group, option), [])])
    validate(cfg)
    assert cfg[group] is not None


@pytest.mark.parametrize("preset", [[], ["experiment=hala_1.2b"]], ids=["default", "hala_1.2b"])
def test_the_old_resources_name_h100_1b_is_h100_lfm2(preset):
    """resources=h100_1b, the LFM2 preset's old name, still composes to exactly that preset."""
    old, new = (OmegaConf.to_container(compose([*preset, f"resources={name}"]).resources)
                for name in ("h100_1b", "h100_lfm2"))
    assert old == new and new["name"] == "h100_lfm2"


@pytest.mark.parametrize("launcher", sorted(p.stem for p in (CONF_DIR / "hydra" / "launcher").glob("*.yaml")))
def test_every_launcher_composes(launcher):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from hala_exp.config.schema import register

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        cfg = hydra_compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_validates(preset):
    cfg = compose([f"experiment={preset}"])
    validate(cfg)
    assert cfg.name == preset


def test_presets_carry_the_papers_settings():
    cfg = compose(["experiment=hala_1.2b"])
    assert cfg.model.id == "LiquidAI/LFM2-1.2B"
    assert cfg.teacher.id == "CohereLabs/command-a-translate-08-2025" and cfg.teacher.fp8
    assert cfg.teacher.quant_scheme == "FP8_DYNAMIC" and list(cfg.teacher.quant_ignore) == ["lm_head"]
    assert cfg.judge.id == "Qwen/Qwen2.5-3B-Instruct"
    assert cfg.merge.method == "slerp" and cfg.merge.t == 0.5
    assert cfg.data.bootstrap.rows == 405000 and cfg.data.parallel.path == "Helsinki-NLP/opus-100"
    assert compose(["experiment=hala_9b"]).model.id == "QCRI/Fanar-1-9B-Instruct"
    assert cfg.judge.prompt.startswith("You are a strict bilingual judge.")
    assert cfg.judge.prompt.endswith("Otherwise, output only: reject")


def test_default_is_the_tiny_preset():
    cfg = compose()
    assert cfg.name == "tiny" and cfg.model.id == "tiny" and cfg.teacher.tiny.arch == "llama"
    assert cfg.model.tiny.arch == "lfm2"


def test_unknown_group_option_names_the_group():
    with pytest.raises(ConfigCompositionException, match="model"):
        compose(["model=lfm2_13b"])


def test_wrong_type_names_the_key():
    with pytest.raises((ConfigCompositionException, ValidationError)) as err:
        compose(["data.mix.arabic_ratio=half"])
    text = f"{err.value} {err.value.__cause__}"
    assert "data.mix.arabic_ratio" in text and "half" in text and "Float" in text


def test_unknown_key_is_refused():
    with pytest.raises(ConfigCompositionException, match="lerning_rate"):
        compose(["model.lerning_rate=1e-4"])


@pytest.mark.parametrize("override,key", [
    ("merge.t=1.5", "merge.t"),
    ("merge.t=-0.1", "merge.t"),
    ("merge.t=half", "merge.t"),  # a number or mergekit's per-layer form: typed at validation
    ("data.bootstrap.rows=0", "data.bootstrap.rows"),
    ("data.corpus.orca.rows=-5", "data.corpus.orca.rows"),
    ("data.parallel.rows=0", "data.parallel.rows"),
    ("data.bootstrap.adapter=lamini", "data.bootstrap.path"),  # its columns are not in the Orca file
    ("data.corpus.orca.adapter=orca", "data.corpus.orca.adapter"),
    ("data.parallel.ar_field=arabic", "data.parallel.path"),
    ("model.id=/nonexistent/model/dir", "model.id"),
    ("teacher.id=./no_such_teacher", "teacher.id"),
    ("merge.method=tiess", "merge.method"),
    ("+merge.parameters.density=0.5", "merge.parameters.density"),  # density is per model: merge.tuned
    ("eval.translation.n=0", "eval.translation.n"),
    ("teacher.prompt=Translate", "teacher.prompt"),
    ("data.gates.leak_min_words=-1", "data.gates.leak_min_words"),
    ("data.gates.trailing_min_words=-2", "data.gates.trailing_min_words"),
    ("judge.max_invalid_rate=1.5", "judge.max_invalid_rate"),
])
def test_bad_values_fail_with_key_value_and_fix(override, key):
    cfg = compose([override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    message = str(err.value)
    assert message.startswith(key), message
    assert "Fix:" in message
    assert override.split("=", 1)[1].split("/")[-1] in message


def test_cli_reports_config_error_before_loading_anything(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from hala_exp.cli import main; main(); "
         "print('TORCH', 'torch' in sys.modules)", "merge.t=2", f"store={tmp_path}",
         f"hydra.run.dir={tmp_path}/run"],
        capture_output=True, text=True)
    assert proc.returncode == 2
    assert "merge.t = 2.0" in proc.stderr and "Fix:" in proc.stderr
    assert not any(tmp_path.iterdir()) or not (tmp_path / "run" / "results.json").exists()


def test_each_fine_tune_can_set_its_own_schedule_over_the_train_group():
    from hala_exp.recipes import build_graph
    from hala_exp.recipes.graph import step_keys

    def changed(*overrides: str) -> set[str]:
        base, other = step_keys(build_graph(compose([]))), step_keys(build_graph(compose(list(overrides))))
        return {n for n in base if base[n] != other[n]}

    student = {"sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}
    assert changed("model.train.max_steps=48") == student  # the translator keeps its schedule
    assert changed("translator.train.max_steps=48") == changed("train.max_steps=48") == student | {
        "train_translator", "translate_corpus", "evaluate.translator"}
    assert changed("model.train.max_steps=12") == set()  # the group's own value: same keys, reused
    sft = {s.name: s for s in build_graph(compose(["model.train.lr_scheduler=linear"]))}["sft"]
    assert sft.config["train"]["lr_scheduler"] == "linear" and sft.config["train"]["max_steps"] == 12


def test_a_new_training_option_of_the_student_reaches_only_the_students_steps(monkeypatch):
    """README: a student-only option is a null field of TrainOverrides, set as model.train.<name>. Added
    here to the schema for the test: unset it moves no key, set it moves sft and what follows only."""
    from dataclasses import field, make_dataclass

    from hala_exp.config import schema
    from hala_exp.config.schema import models
    from hala_exp.recipes import build_graph
    from hala_exp.recipes.graph import step_keys

    base = step_keys(build_graph(compose([])))
    extended = make_dataclass("TrainOverrides", [("new_option", "Optional[int]", field(default=None))],
                              bases=(models.TrainOverrides,), namespace={"__module__": models.__name__})
    monkeypatch.setattr(models, "TrainOverrides", extended)
    for cls in (models.ModelConfig, models.TranslatorConfig):
        monkeypatch.setattr(cls.__dataclass_fields__["train"], "default_factory", extended)
        monkeypatch.setattr(cls.__dataclass_fields__["train"], "type", extended)
    schema.register()
    try:
        assert step_keys(build_graph(compose([]))) == base  # a null option enters no key
        moved = {n for n, k in step_keys(build_graph(compose(["model.train.new_option=3"]))).items() if base[n] != k}
    finally:
        monkeypatch.undo()
        schema.register()
    assert moved == {"sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}


@pytest.mark.parametrize(("override", "message"), [
    ("translator.train.max_steps=0", "translator.train.max_steps = 0: that fine-tune would do nothing"),
    ("model.train.epochs=0", "model.train.epochs = 0.0: that fine-tune would do nothing"),
])
def test_an_own_schedule_that_trains_nothing_is_refused(override, message):
    with pytest.raises(ConfigError, match=re.escape(message) + ".*Fix:"):
        validate(compose([override]), check_data=False)
