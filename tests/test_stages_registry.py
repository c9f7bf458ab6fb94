"""Stage declarations: the one source of each stage's version, key slice, partial and training,
and step keys that stay what they were (users' caches are keyed by them). No torch."""

from __future__ import annotations

import dataclasses

import pytest
from graph_walk import descendants

from hala_exp.config import compose
from hala_exp.pipeline import graph
from hala_exp.pipeline.dispatch import training_launch
from hala_exp.pipeline.execute import make_spec
from hala_exp.pipeline.fanout import workers_for
from hala_exp.pipeline.graph import step_keys
from hala_exp.pipeline.store import Store
from hala_exp.recipes import build_graph
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
    assert steps["judge"].report == {"max_invalid_rate": 0.9}
    assert steps["merge"].options == {"mergekit": {"out_shard_size": 200_000_000, "lazy_unpickle": True}}
    assert steps["source.parallel"].report == {"key": "data.parallel"}


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
# packing would leak across sequences).
KEYS = {
    'hala_tiny': {
        'source.translation': 'e9e25ae64b1bbe87',
        'source.bootstrap': '13688ccd7022f239',
        'source.parallel': '000a35f9656b0169',
        'source.corpus.orca': 'e2889e0718d58e26',
        'source.corpus.orca_tail': '0517ba795df0a6f0',
        'build.teacher': 'b8f7e8e147e75a0b',
        'quantize_teacher': 'a1380189aa50c5a9',
        'validate_teacher': 'c1ca6c529c3f2e97',
        'translate_bootstrap': 'd4738db74bdad151',
        'build.judge': '5563a407bafc1d47',
        'judge': 'cb62c63539107804',
        'build.translator_base': 'da36201dbb4e1015',
        'train_translator': '8e10d6e753bcfcec',
        'translate_corpus': '1a001ef85fc16e71',
        'build.student_base': '5f5fdeb16401772b',
        'sft': 'ba80ff9de53ee718',
        'merge': 'ef61babfa61049d2',
        'evaluate.teacher': 'c3ce9ea7729424d8',
        'evaluate.teacher_fp8': '3680fbadcdcf8efc',
        'evaluate.translator_base': '3fa2c11a466df17c',
        'evaluate.translator': '4c4e88687a27d09f',
        'evaluate.student_base': 'e53c0c3e39590449',
        'evaluate.student_sft': 'c9579fac1930339d',
        'evaluate.student_merged': '811b6a5df18b5c80',
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
        'build.student_base': '5f5fdeb16401772b',
        'fertility': '32f2a0b3acf5221b',
        'expand_vocab': 'c242d5c071b32238',
        'cpt': 'a46c4e1017f039e6',
        'sft': '7682af8c50e011d3',
        'dpo': 'bb51f55010be67f1',
        'evaluate.allam_base': 'e53c0c3e39590449',
        'evaluate.allam_cpt': 'b1d55647eefac2ba',
        'evaluate.allam_sft': '1f08f8ba3af9178a',
        'evaluate.allam_dpo': 'fcd73779931051e6',
    },
    'hala_tiny_dpo_ties': {
        'source.bootstrap': '13688ccd7022f239',
        'source.parallel': '000a35f9656b0169',
        'source.corpus.orca': 'e2889e0718d58e26',
        'source.corpus.orca_tail': '0517ba795df0a6f0',
        'source.preferences': '1eae516a16f54fba',
        'source.translation': 'e9e25ae64b1bbe87',
        'build.teacher': 'b8f7e8e147e75a0b',
        'translate_bootstrap': '2c5093d895e02f19',
        'build.judge': '5563a407bafc1d47',
        'judge': 'cb62c63539107804',
        'build.translator_base': 'da36201dbb4e1015',
        'train_translator': 'b328943ccfb7a162',
        'translate_corpus': 'd9b2dd5023b2ecbb',
        'build.student_base': '5f5fdeb16401772b',
        'sft': '379808cf477f55f7',
        'dpo': '36a54a906a6228c4',
        'merge': '96655efc371f7542',
        'evaluate.teacher': 'c3ce9ea7729424d8',
        'evaluate.translator_base': '3fa2c11a466df17c',
        'evaluate.translator': '466543ead3b402b5',
        'evaluate.student_base': 'e53c0c3e39590449',
        'evaluate.student_sft': '8fa613ea9f31cea0',
        'evaluate.student_dpo': '8b26d3b4395d5028',
        'evaluate.student_merged': '74ad5ab52a3c8ea4',
    },
}
OVERRIDES = {"hala_tiny": [], "allam_tiny": ["experiment=allam_tiny"],
             "hala_tiny_dpo_ties": ["dpo=tiny", "merge=ties", "teacher.fp8=false"]}


@pytest.mark.parametrize("point", sorted(KEYS))
def test_step_keys_stay_what_they_were(point):
    assert step_keys(build_graph(compose(OVERRIDES[point]))) == KEYS[point]
