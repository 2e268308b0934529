from __future__ import annotations

import pytest
from checker_histories import clean_run, outcome, output, wfrec, with_

from harness.checkers import single_outcome
from harness.history import History, Validity

OUT = output({0: "n0a1", 1: "n1a1", 2: "n2a1", 3: "n3a1"})
OTHER = output({0: "n0a1", 1: "n1a1", 2: "n2a2", 3: "n3a2"})

CASES: list[tuple[str, History, Validity, str]] = [
    ("record and handle agree", clean_run(), "true", "agreeing"),
    ("record only", with_(clean_run(), outcomes=()), "true", "agreeing"),
    ("two handles agree", with_(clean_run(), outcomes=(
        outcome(output=OUT), outcome(observer="handle-2", output=OUT))), "true", "agreeing"),
    ("two handles see different outputs", with_(clean_run(), outcomes=(
        outcome(output=OUT), outcome(observer="handle-2", output=OTHER))), "false", "differ"),
    ("handle and record disagree on status", with_(clean_run(), workflows=(
        wfrec(status="ERROR", output=OUT),)), "false", "ERROR"),
    ("store forgot a result a handle saw", with_(clean_run(), workflows=(
        wfrec(status="PENDING"),)), "false", "still says PENDING"),
    ("nothing terminal to compare", with_(clean_run(), workflows=(wfrec(status="PENDING"),),
                                          outcomes=()), "unknown", "no workflow"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_single_outcome(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = single_outcome.check(trial)
    assert verdict.property == "single_outcome"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
