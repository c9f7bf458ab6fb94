"""Sweep definitions compose as Hydra's group `sweep`; leave-one-source-out reaches only the mix."""

from __future__ import annotations

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from hala_exp.config import CONF_DIR, ConfigError, compose, validate
from hala_exp.config.schema import register
from hala_exp.pipeline.graph import build_graph, step_keys


@pytest.mark.parametrize(("name", "param", "values"), [
    ("slerp_t", "merge.t", "0.0,0.25,0.5,0.75,1.0"),
    ("data_mix", "data.leave_out", "null,orca,orca_tail"),
    ("data_mix", "data.mix.arabic_ratio", "1.0,0.5"),
    ("sizes", "experiment", "hala_350m,hala_700m,hala_1.2b,hala_9b"),
])
def test_each_sweep_composes_with_its_points_and_its_group(name, param, values):
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        cfg = hydra_compose("config", overrides=[f"+sweep={name}"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params[param] == values
    assert cfg.logger.group == ("hala-sizes" if name == "sizes" else f"tiny-{name}")


def test_leaving_a_source_out_changes_the_mix_and_what_follows_only():
    full = {s.name: s for s in build_graph(compose([]))}
    without = {s.name: s for s in build_graph(compose(["data.leave_out=orca"]))}
    assert set(without["translate_corpus"].config["corpus"]) == {"orca_tail"}
    k_full, k_without = step_keys(list(full.values())), step_keys(list(without.values()))
    changed = {n for n in k_full if k_full[n] != k_without[n]}
    assert changed == {"translate_corpus", "sft", "merge", "evaluate.student_sft", "evaluate.student_merged"}
    assert step_keys(build_graph(compose(["data.leave_out=null"]))) == k_full


def test_leaving_out_an_unknown_source_names_the_key_and_the_fix():
    with pytest.raises(ConfigError, match=r"data.leave_out = 'lamini': is not a source of data.corpus.*orca"):
        validate(compose(["data.leave_out=lamini"]), check_data=False)


def test_an_arabic_share_reaches_sft_only_and_all_arabic_keeps_the_default_keys():
    full = step_keys(build_graph(compose([])))
    half = step_keys(build_graph(compose(["data.mix.arabic_ratio=0.5"])))
    assert {n for n in full if full[n] != half[n]} == {"sft", "merge", "evaluate.student_sft",
                                                      "evaluate.student_merged"}
    assert step_keys(build_graph(compose(["data.mix.arabic_ratio=1.0"]))) == full
