"""Stage declarations: the one source of each stage's version, key slice, partial and training,
and step keys that stay what they were (users' caches are keyed by them). No torch."""

from __future__ import annotations

import dataclasses

import pytest
from graph_walk import descendants

from hala_exp.config import compose
from hala_exp.pipeline.dispatch import training_launch
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.fanout import workers_for
from hala_exp.pipeline.store import Store
from hala_exp.recipes import build_graph, graph
from hala_exp.recipes.graph import step_keys
from hala_exp.stages import STAGES

# Graphs that between them hold every stage.
POINTS = [[], ["dpo=tiny"], ["experiment=allam_tiny"], ["experiment=allam_tiny", "eval=heldout"],
          ["experiment=smollm2_merge", "model.gguf.use=always"], ["eval=heldout", "merge=ties"]]


def test_every_stage_a_graph_holds_is_declared_and_its_steps_follow_the_declaration():
    seen = set()
    for point in POINTS:
        for s in build_graph(compose(point)):
            info = STAGES[s.stage]
            assert (s.fn, s.partial, s.version) == (info.fn, info.partial, info.version), s.name
            seen.add(s.stage)
    assert seen == set(STAGES)  # and no declaration is left over


def test_training_fanout_and_tracking_come_from_the_declarations(tmp_path):
    cfg = compose(["recipe=allam", "dpo=tiny", "runtime.gpus_per_node=2", "resources.default.workers=3"])
    store = Store(tmp_path)
    for name, info in STAGES.items():
        assert (training_launch(cfg, name, None) is not None) == (info.trains is not None), name
        assert workers_for(cfg.resources, name) == (3 if info.sharded else 1), name
        step = graph.Step("x", name, info.fn, {})
        assert (make_spec(step, {"x": "k"}, store, {"run": 1})["tracking"] is None) == (not info.tracked), name
    assert {n for n, i in STAGES.items() if i.sharded} == {"translate_bootstrap", "judge", "translate_corpus",
                                                           "evaluate_lighteval"}
    assert {n for n, i in STAGES.items() if i.trains} == {"train_translator", "sft", "sft_sources", "cpt", "dpo"}


def test_every_stage_declares_its_headline_metric():
    """A new stage names the number its console line shows; a source snapshot alone shows none (its
    counts reach the metrics of the steps that read it)."""
    assert {n for n, i in STAGES.items() if not i.headline} == {"snapshot"}
    for name, info in STAGES.items():
        assert isinstance(info.headline, tuple) and all(isinstance(p, str) and p for p in info.headline), name


def own_changes(base: list[str], override: str) -> set[str]:
    """Steps whose own config slice changes when `override` is added; checks that no other key moves
    except through an input."""
    a, b = build_graph(compose(base)), build_graph(compose([*base, override]))
    ca, cb = {s.name: s.config for s in a}, {s.name: s.config for s in b}
    assert ca.keys() == cb.keys()
    own = {n for n in ca if ca[n] != cb[n]}
    ka, kb = step_keys(a), step_keys(b)
    assert {n for n in ka if ka[n] != kb[n]} == descendants(b, own)
    return own


@pytest.mark.parametrize(("base", "override", "own"), [
    ([], "judge.max_new_tokens=7", {"judge"}),
    ([], "merge.t=0.3", {"merge"}),
    (["dpo=tiny"], "dpo.beta=0.3", {"dpo"}),
    (["experiment=allam_tiny"], "allam.cpt.ratio=0.3", {"cpt"}),
    ([], "data.mix.arabic_ratio=0.5", {"sft"}),  # translate_corpus declares the mix less this ratio
    ([], "judge.max_invalid_rate=0.9", set()),  # the judge only reports it
    ([], "+merge.options.lazy_unpickle=true", set()),  # how mergekit runs, not what it writes
    ([], "eval.lighteval.tasks_per_shard=2", set()),  # how the work is split, not a score
    ([], "resources.default.workers=4", set()),  # no stage reads it
])
def test_a_setting_reaches_the_stages_that_declare_it_and_their_consumers_only(base, override, own):
    assert own_changes(base, override) == own


def test_what_a_stage_only_reports_or_runs_with_reaches_it_outside_its_key():
    steps = {s.name: s for s in build_graph(compose(["judge.max_invalid_rate=0.9",
                                                     "+merge.options.lazy_unpickle=true"]))}
    assert steps["judge"].messages == {"max_invalid_rate": 0.9}
    assert steps["merge"].options == {"mergekit": {"out_shard_size": 200_000_000, "lazy_unpickle": True}}
    assert steps["source.parallel"].messages == {"key": "data.parallel"}


def test_a_declaration_alone_decides_its_steps_key(monkeypatch):
    """A new stage setting is a change to its declaration, nothing else: the graph picks it up."""
    before = step_keys(build_graph(compose()))
    merge = STAGES["merge"]
    wider = dataclasses.replace(merge, config=lambda cfg: {**merge.config(cfg), "new": 1})
    monkeypatch.setitem(STAGES, "merge", wider)
    steps = build_graph(compose())
    after = step_keys(steps)
    assert {n for n in before if before[n] != after[n]} == descendants(steps, {"merge"})
    monkeypatch.setitem(STAGES, "merge", dataclasses.replace(merge, version=merge.version + 1))
    bumped = step_keys(build_graph(compose()))
    assert {n for n in before if before[n] != bumped[n]} == descendants(steps, {"merge"})


# Keys of three graphs as computed before stages declared themselves. A change here re-runs every
# cached step of every user: only a version bump or a change to what a stage writes may change one
# (a bundled sample's bytes key its snapshot, so editing a sample changes keys too). The translation
# evaluations (evaluate.teacher*, evaluate.translator*) moved once when the dtype their model runs in
# joined the key: vLLM had run a fine-tune in the float32 it is saved in. The training stages (sft,
# train_translator, cpt, dpo) and their descendants moved once when training began to decide from the
# model's config how it loads and batches (eager attention for softcapped logits, padded batches where
# packing would leak across sequences). The training steps (build.*, whose warm-up trains, sft,
# train_translator, cpt, dpo) and their descendants moved once more when the global batch replaced the
# per-device batch_size and grad_accum in their keys (README: Batch); a build without warm-up keys on
# the model's shape alone.
KEYS = {
    'hala_tiny': {
        'source.translation': 'e9e25ae64b1bbe87',
        'source.bootstrap': '13688ccd7022f239',
        'source.parallel': '000a35f9656b0169',
        'source.corpus.orca': 'e2889e0718d58e26',
        'source.corpus.orca_tail': '0517ba795df0a6f0',
        'build.teacher': '8d5390ef7380dfcc',
        'quantize_teacher': '894f90c16cc196b9',
        'validate_teacher': '256d56f676443d42',
        'translate_bootstrap': '5bb4f8fcabfd38df',
        'build.judge': '08d13f4d17c4a37f',
        'judge': 'b77efcb8ebc0468c',
        'build.translator_base': 'd37f60f1cef9bbf9',
        'train_translator': '2ced74b75f1100af',
        'translate_corpus': '1c90dc90a3a09473',
        'build.student_base': '9ef1cf55dd48d254',
        'sft': 'b8c945f97c334522',
        'merge': '4c159ce09e88444d',
        'evaluate.teacher': 'c09f2ebc6c266220',
        'evaluate.teacher_fp8': 'a6436ceb6a0cb2df',
        'evaluate.translator_base': '0006a2414e43e0b3',
        'evaluate.translator': '9c123b02188e0563',
        'evaluate.student_base': '0f3b893f3ff155a7',
        'evaluate.student_sft': '344bbaebb426a8de',
        'evaluate.student_merged': '5f1144d5b0ef5a53',
    },
    'allam_tiny': {
        'source.fertility.arabic': '09835585a070a23b',
        'source.fertility.english': 'fa1f6d1a673caa64',
        'source.fertility.code': '90602b325b6b656a',
        'source.expand.corpus': '4372d69a88a2fc15',
        'source.cpt.english.tatoeba_en': '8e0748437f4a76ee',
        'source.cpt.heldout.arabic': '0505a9bd1e87f022',
        'source.cpt.heldout.english': '12f399f9cfd10021',
        'source.sft.orca': 'ae4d48aad11c759f',
        'source.sft.tatoeba_en_ar': 'fab9a828ddb3761e',
        'source.preferences': '1eae516a16f54fba',
        'build.student_base': '9ef1cf55dd48d254',
        'fertility': '26877a3fec11263d',
        'expand_vocab': '14d4fad276214d45',
        'cpt': '73876ac4960eedda',
        'sft': 'd3a85bfdb86434db',
        'dpo': '30ae26e705012a19',
        'evaluate.allam_base': '0f3b893f3ff155a7',
        'evaluate.allam_cpt': 'c6fa6720a7b5b954',
        'evaluate.allam_sft': '34023034e1475adb',
        'evaluate.allam_dpo': '5d4c2acc5dbde642',
    },
    'hala_tiny_dpo_ties': {
        'source.bootstrap': '13688ccd7022f239',
        'source.parallel': '000a35f9656b0169',
        'source.corpus.orca': 'e2889e0718d58e26',
        'source.corpus.orca_tail': '0517ba795df0a6f0',
        'source.preferences': '1eae516a16f54fba',
        'source.translation': 'e9e25ae64b1bbe87',
        'build.teacher': '8d5390ef7380dfcc',
        'translate_bootstrap': '732b64c8350bc656',
        'build.judge': '08d13f4d17c4a37f',
        'judge': 'b77efcb8ebc0468c',
        'build.translator_base': 'd37f60f1cef9bbf9',
        'train_translator': 'ea75ebe7cce726dd',
        'translate_corpus': '8768921acc3dc233',
        'build.student_base': '9ef1cf55dd48d254',
        'sft': 'fbb93b93169d1d6d',
        'dpo': '26905f825be62063',
        'merge': '796462995a5daa52',
        'evaluate.teacher': 'c09f2ebc6c266220',
        'evaluate.translator_base': '0006a2414e43e0b3',
        'evaluate.translator': '435575e92659759e',
        'evaluate.student_base': '0f3b893f3ff155a7',
        'evaluate.student_sft': 'e9d8d9e99164cce4',
        'evaluate.student_dpo': 'fbd042d51dcae9df',
        'evaluate.student_merged': 'f8f8a3c40836768a',
    },
}
OVERRIDES = {"hala_tiny": [], "allam_tiny": ["experiment=allam_tiny"],
             "hala_tiny_dpo_ties": ["dpo=tiny", "merge=ties", "teacher.fp8=false"]}


@pytest.mark.parametrize("point", sorted(KEYS))
def test_step_keys_stay_what_they_were(point):
    assert step_keys(build_graph(compose(OVERRIDES[point]))) == KEYS[point]
