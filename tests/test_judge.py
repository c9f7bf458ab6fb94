"""The judge's verdicts are parsed robustly and its counts add up."""

import pytest

from hala_exp.stages.judge import parse_verdict


@pytest.mark.parametrize("text,verdict", [
    ("accept", "accept"), ("Accept", "accept"), ("  ACCEPT\n", "accept"), ("accept.", "accept"),
    ("I accept this translation", "accept"), ("reject", "reject"), ("Reject!", "reject"),
    ("output: reject", "reject"), ("", "invalid"), ("maybe", "invalid"), ("accept or reject", "invalid"),
    ("acceptable", "invalid"), ("قبول", "invalid"),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict
