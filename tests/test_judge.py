"""The judge's verdicts are parsed by one strict rule, its invalid share is a metric, and too many warn."""

import logging

import pytest

from hala_exp.stages.judge import parse_verdict, warn_if_invalid


@pytest.mark.parametrize("text,verdict", [
    ("accept", "accept"), ("Accept", "accept"), ("  ACCEPT\n", "accept"), ("accept.", "accept"),
    ("Accept.", "accept"), ("**accept**", "accept"), ("`reject`", "reject"), ("Output: accept", "accept"),
    ("Verdict - Reject", "reject"), ("Final answer: **Accept**", "accept"), ("reject", "reject"),
    ("Reject!", "reject"), ("output: reject", "reject"), ("accept\n\nThe", "accept"),
    ("I accept", "accept"), ("The translation is correct: accept", "accept"),
    ("", "invalid"), ("maybe", "invalid"), ("accept or reject", "invalid"), ("acceptable", "invalid"),
    ("قبول", "invalid"), ("I accept this translation", "invalid"),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize("text", [
    "I do not accept this pair.", "I cannot accept", "not accept", "Do not reject", "I don't accept",
    "I won’t accept", "No, reject", "accept? maybe", "accept?", "I would probably accept",
    "Perhaps reject", "likely accept", "I think accept", "accept, not reject",
])
def test_negated_or_hedged_verdicts_are_invalid(text):
    assert parse_verdict(text) == "invalid"


def test_a_high_invalid_share_warns_and_names_the_fix(caplog):
    with caplog.at_level(logging.WARNING, logger="hala_exp"):
        assert warn_if_invalid(1, 10, 0.2) == pytest.approx(0.1)
        assert not caplog.records
        assert warn_if_invalid(3, 10, 0.2) == pytest.approx(0.3)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "30.0%" in record.message and "judge.max_invalid_rate" in record.message
    assert "judge.prompt" in record.message
    assert warn_if_invalid(0, 0, 0.2) == 0.0


def test_the_threshold_reaches_the_judge_step_but_not_its_key():
    from hala_exp.config import compose
    from hala_exp.pipeline.execute import make_spec
    from hala_exp.pipeline.store import Store
    from hala_exp.recipes import build_graph
    from hala_exp.recipes.graph import step_keys

    def judge(overrides):
        steps = build_graph(compose(overrides))
        return next(s for s in steps if s.name == "judge"), step_keys(steps)

    step, keys = judge([])
    loose, loose_keys = judge(["judge.max_invalid_rate=0.9"])
    assert keys == loose_keys  # no step re-runs for a new warning threshold
    spec = make_spec(loose, loose_keys, Store("/tmp/unused-store"))
    assert spec["config"]["messages"] == {"max_invalid_rate": 0.9}
    assert spec["config"]["judge"] == step.config["judge"]
