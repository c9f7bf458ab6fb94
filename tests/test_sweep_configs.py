"""Sweep definitions compose as Hydra's group `sweep`; leave-one-source-out reaches only the mix."""

from __future__ import annotations

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from hala_exp.config import CONF_DIR, ConfigError, compose, validate
from hala_exp.config.schema import register
from hala_exp.recipes import build_graph
from hala_exp.recipes.graph import step_keys


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
    assert set(k_full) - set(k_without) == {"source.corpus.orca"}  # a source left out is not even read
    changed = {n for n in k_without if k_full[n] != k_without[n]}
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


SWEEPS = sorted(p.stem for p in (CONF_DIR.parent / "sweeps").glob("*.yaml"))


def _points(name: str) -> list[list[str]]:
    """The override lists of every point of sweep `name` (the product of its axes, as Hydra's sweeper)."""
    import itertools

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        cfg = hydra_compose("config", overrides=[f"+sweep={name}"], return_hydra_config=True)
    axes = [[f"{k}={v}" for v in str(values).split(",")] for k, values in cfg.hydra.sweeper.params.items()]
    return [list(p) for p in itertools.product(*axes)]


@pytest.mark.parametrize("name", SWEEPS)
def test_every_point_of_every_sweep_composes_and_validates(name):
    for point in _points(name):
        cfg = compose([f"+sweep={name}", *point])
        validate(cfg)
        assert build_graph(cfg)


def test_the_merge_method_sweep_shares_the_fine_tune_and_reruns_merge_only():
    keys = [step_keys(build_graph(compose(["+sweep=merge_method", p]))) for (p,) in _points("merge_method")]
    assert len(keys) == 6
    for k in keys[1:]:
        assert {n for n in k if k[n] != keys[0][n]} == {"merge", "evaluate.student_merged"}
    assert keys[0] == step_keys(build_graph(compose([])))  # slerp at t = 0.5 stays the default


def test_a_merge_method_is_one_yaml_file(tmp_path, tiny_lfm2, tiny_lfm2_other):
    """A method mergekit has and the project never named: a config file in a search-path folder, no code."""
    import torch
    from safetensors.torch import load_file

    from hala_exp.stages import merge

    (tmp_path / "merge").mkdir()
    (tmp_path / "merge" / "breadcrumbs_ties.yaml").write_text(
        "method: breadcrumbs_ties\nt: 0.5\nparameters: {normalize: false}\ntuned: {density: 0.8, gamma: 0.1}\n"
        "dtype: float32\n")
    cfg = compose([f"hydra.searchpath=[file://{tmp_path}]", "merge=breadcrumbs_ties"])
    validate(cfg, check_data=False)
    assert {s.name: s for s in build_graph(cfg)}["merge"].config["merge"]["method"] == "breadcrumbs_ties"
    out = tmp_path / "out"
    out.mkdir()
    merge.run(cfg, {"base": str(tiny_lfm2), "tuned": str(tiny_lfm2_other)}, out)
    merged = load_file(str(out / "model" / "model.safetensors"))
    base = load_file(str(tiny_lfm2 / "model.safetensors"))
    assert set(merged) == set(base) and any(not torch.equal(merged[n], base[n]) for n in merged)
    bad = compose([f"hydra.searchpath=[file://{tmp_path}]", "merge=breadcrumbs_ties", "+merge.tuned.t=0.3"])
    with pytest.raises(ConfigError, match=r"merge\.tuned\.t = 0\.3: breadcrumbs_ties takes no such per-model"):
        validate(bad, check_data=False)


def test_the_slerp_split_sweep_compares_one_t_with_t_per_module_on_the_real_model(tmp_path):
    """Composable with experiment=smollm2_merge (Llama names: self_attn, mlp); only the merge reruns."""
    register()
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        cfg = hydra_compose("config", overrides=["+sweep=slerp_split"], return_hydra_config=True)
    assert cfg.hydra.sweeper.params["merge"] == "slerp,slerp_split"
    points = [compose(["experiment=smollm2_merge", "+sweep=slerp_split", f"merge={p}", f"store={tmp_path}"])
              for p in ("slerp", "slerp_split")]
    for cfg in points:
        validate(cfg, check_data=False)
    split = {s.name: s for s in build_graph(points[1])}["merge"].config["merge"]
    assert split["t"] == [{"filter": "self_attn", "value": [0, 0.5, 0.3, 0.7, 1]},
                          {"filter": "mlp", "value": [1, 0.5, 0.7, 0.3, 0]}, {"value": 0.5}]
    a, b = (step_keys(build_graph(c)) for c in points)
    assert {n for n in a if a[n] != b[n]} == {"merge"} | {n for n in a if n.startswith(("heldout.student_merged",
                                                                                        "evaluate.student_merged"))}
