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
    assert expected and {(r[1], r[2]) for r in table.rows} == set(expected.items())
