"""The report's known findings: taken from each SUT's own description, only for SUTs in the
results (a finding stays visible in every report while the scenario shows it as an xfail)."""

from __future__ import annotations

import pandas as pd

from harness.report._display import known_findings_display
from harness.sut import get_sut


def test_known_findings_come_from_the_suts_own_descriptions() -> None:
    assert known_findings_display(pd.DataFrame({"sut": ["reference", "reference"]})) is None
    table = known_findings_display(pd.DataFrame({"sut": ["langgraph", "no-such-sut"]}))
    assert table is not None
    expected = get_sut("langgraph").describe().known_findings
    assert expected and {(r[1], r[3]) for r in table.rows} == set(expected.items())
    assert {r[2] for r in table.rows} == {"not recorded (this store's runs predate it)"}


def test_a_known_finding_says_whether_this_run_saw_it_and_in_which_trials() -> None:
    from harness.run_plan import ExpectedFailure

    trials = pd.DataFrame({"sut": ["langgraph", "langgraph-nockpt"],
                           "scenario": ["failed_step", "failed_step"],
                           "trial_id": ["failed_step-langgraph-s0", "failed_step-lg-nockpt-s0"]})
    case = next(iter(get_sut("langgraph").describe().known_findings))
    seen = [ExpectedFailure("scenarios/test_failed_step.py::t[langgraph]", "why",
                            ("failed_step-langgraph-s0",))]
    table = known_findings_display(trials, seen)
    assert table is not None
    row = next(r for r in table.rows if r[0] == "langgraph" and r[1] == case)
    assert row[2] == "seen: failed_step-langgraph-s0"
    table = known_findings_display(trials, [])
    assert table is not None
    assert {r[2] for r in table.rows} == {"not seen in this run"}
