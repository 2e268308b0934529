"""The gate passes the suite's own results: ``reports/example/results.jsonl`` is the CI run of
this version (every promised verdict true), so a gate rule it breaks is a wrong rule, as the
sanity rule that read ``frontier = -1`` as a negative count was (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.report._sanity import FIGURE_BOUNDS
from harness.report._store import FIGURE_COLUMNS

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "example" / "results.jsonl"


def test_the_gate_passes_the_suites_own_results(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["gate", str(EXAMPLE)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.startswith("gate passed:")


def test_every_stored_figure_has_a_meaning_and_a_bound() -> None:
    """A figure added to the store without a documented meaning fails here, not in a user's CI."""
    assert set(FIGURE_BOUNDS) == set(FIGURE_COLUMNS)
    assert all(bound.meaning.strip() for bound in FIGURE_BOUNDS.values())
