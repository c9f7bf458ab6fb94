"""The ALLaM recipe's graph, the optional DPO stage in the HALA graph, sweeps and config errors (no torch)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from hala_exp.config import ConfigError, compose, validate
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import Ref, step_keys

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
ALLAM = ["experiment=allam_tiny"]


def keys(overrides: list[str]) -> dict[str, str]:
    return step_keys(build_graph(compose(overrides)))


def changed(a: list[str], b: list[str], same_steps: bool = True) -> set[str]:
    ka, kb = keys(a), keys(b)
    assert ka.keys() == kb.keys() or not same_steps
    return {n for n in ka if n in kb and ka[n] != kb[n]}


def models(steps) -> list[str]:
    """The step names after the source snapshots (which come first, in every graph)."""
    names = [s.name for s in steps]
    assert all(n.startswith("source.") for n in names[: sum(s.stage == "snapshot" for s in steps)])
    return [s.name for s in steps if s.stage != "snapshot"]


def test_allam_graph_runs_fertility_expansion_cpt_sft_dpo_then_evaluation():
    steps = build_graph(compose(ALLAM))
    assert models(steps) == [
        "build.student_base", "fertility", "expand_vocab", "cpt", "sft", "dpo",
        "evaluate.allam_base", "evaluate.allam_cpt", "evaluate.allam_sft", "evaluate.allam_dpo"]
    by = {s.name: s for s in steps}
    assert by["cpt"].inputs["model"] == Ref("expand_vocab", "model")
    assert by["dpo"].inputs["model"] == Ref("sft", "model")
    assert by["evaluate.allam_dpo"].inputs["model"] == Ref("dpo", "model")


def test_ratio_reaches_cpt_onwards_and_init_reaches_expansion_onwards():
    after_cpt = {"cpt", "sft", "dpo", "evaluate.allam_cpt", "evaluate.allam_sft", "evaluate.allam_dpo"}
    assert changed(ALLAM, ALLAM + ["allam.cpt.ratio=0.3"]) == after_cpt
    assert changed(ALLAM, ALLAM + ["allam.cpt.use_translated=true"], same_steps=False) == after_cpt
    assert changed(ALLAM, ALLAM + ["allam.expand.init=random"]) == after_cpt | {"expand_vocab"}
    assert changed(ALLAM, ALLAM + ["dpo.beta=0.2"]) == {"dpo", "evaluate.allam_dpo"}


def test_no_expansion_and_no_sft_drop_their_steps():
    names = models(build_graph(compose(ALLAM + ["allam.expand.enabled=false", "allam.sft.enabled=false"])))
    assert names == ["build.student_base", "fertility", "cpt", "evaluate.allam_base", "evaluate.allam_cpt"]


def test_dpo_sits_between_sft_and_merge_in_the_hala_graph_when_enabled():
    default, with_dpo = build_graph(compose()), build_graph(compose(["dpo=tiny"]))
    assert "dpo" not in {s.name for s in default} and len(models(default)) == 19
    by = {s.name: s for s in with_dpo}
    assert by["dpo"].inputs["model"] == Ref("sft", "model")
    assert by["merge"].inputs["tuned"] == Ref("dpo", "model")
    assert "evaluate.student_dpo" in by
    assert changed([], ["dpo.beta=0.3"]) == set()  # off: its config reaches nothing
    ka, kb = step_keys(default), step_keys(with_dpo)
    assert {n for n in ka if n in kb and ka[n] != kb[n]} == {"merge", "evaluate.student_merged"}
    assert "source.preferences" in kb and "source.preferences" not in ka


@pytest.mark.parametrize("name,key,values", [("lang_ratio", "allam.cpt.ratio", 6), ("embed_init", "allam.expand.init", 2)])
def test_sweeps_compose_and_every_point_validates(name, key, values):
    ConfigStore.instance().store(group="sweep", name=name, node=OmegaConf.load(SWEEPS / f"{name}.yaml"),
                                 package="_global_", replace=True)
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from hala_exp.config import CONF_DIR
    from hala_exp.config.schema import register

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        cfg = hydra_compose(config_name="config", overrides=[f"+sweep={name}"], return_hydra_config=True)
    points = str(cfg.hydra.sweeper.params[key]).split(",")
    assert len(points) == values and cfg.recipe == "allam"
    shared = None
    for v in points:
        with initialize_config_dir(config_dir=str(CONF_DIR)):
            point = hydra_compose(config_name="config", overrides=[f"+sweep={name}", f"{key}={v}"])
        validate(point)
        k = step_keys(build_graph(point))
        assert "sft" not in k and "evaluate.allam_cpt" in k
        base = (k["fertility"], k["evaluate.allam_base"])
        assert shared in (None, base)  # fertility and the base evaluation are shared by every point
        shared = base


@pytest.mark.parametrize("override,key", [
    ("allam.cpt.ratio=1.5", "allam.cpt.ratio"),
    ("allam.expand.init=zeros", "allam.expand.init"),
    ("allam.cpt.spike_threshold=0.5", "allam.cpt.spike_threshold"),
    ("allam.fertility.texts.arabic.fields=[nope]", "allam.fertility.texts.arabic.path"),
    ("allam.cpt.english.tatoeba_en.path=samples:missing.tsv", "allam.cpt.english.tatoeba_en.path"),
    ("dpo.preferences.chosen_field=good", "dpo.preferences.path"),
    ("dpo.beta=0", "dpo.beta"),
    ("recipe=other", "recipe"),
    ("engine.shard_rows=0", "engine.shard_rows"),  # the checks every recipe shares run for ALLaM too
    ("cluster.max_requeues=-1", "cluster.max_requeues"),
])
def test_bad_allam_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key} = "):
        validate(compose(ALLAM + [override]))


def test_both_recipes_read_their_sft_sources_from_data_translated():
    """One home for SFT sources read as they are: `data.translated`, for recipe=hala (the released corpus)
    and recipe=allam alike; the old `allam.sft.sources` is refused naming it."""
    sft = {s.name: s for s in build_graph(compose(ALLAM))}["sft"]
    assert sft.stage == "sft_sources" and set(sft.inputs) == {"model", "source.orca", "source.tatoeba_en_ar"}
    cfg = compose(ALLAM)
    assert set(cfg.data.translated) == {"orca", "tatoeba_en_ar"}
    released = {s.name: s for s in build_graph(compose(["data=hala_released"]))}["sft"]
    assert released.stage == sft.stage  # the same stage, fed from the same config key
    with pytest.raises(ConfigError, match=r"allam\.sft\.sources = \['orca'\]: is no longer a setting.*"
                                          r"Fix: move them under data\.translated"):
        validate(compose([*ALLAM, "+allam.sft.sources={orca: {path: 'samples:orca_style/sample.jsonl'}}"]),
                 check_data=False)
    with pytest.raises(ConfigError, match=r"data\.translated = \{\}: the ALLaM recipe's SFT has no instruction"):
        validate(compose([*ALLAM, "data=tiny"]), check_data=False)
    validate(compose([*ALLAM, "data=tiny", "allam.sft.enabled=false"]), check_data=False)
