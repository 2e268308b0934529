"""The committed fixture is the generator's output, and its figures agree with its histories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixture_results import build_trials, render_jsonl

from harness.history import history_from_json


def test_committed_fixture_is_what_the_generator_writes(fixture_path: Path) -> None:
    assert fixture_path.read_text(encoding="utf-8") == render_jsonl(build_trials()), (
        "tests/report/fixtures/results.jsonl is stale or hand-edited; "
        "regenerate it with: python tests/report/fixture_results.py")


def test_matrix_shape(matrix: list[dict[str, Any]]) -> None:
    assert len(matrix) == 36
    assert len({t["trial_id"] for t in matrix}) == 36
    assert {t["sut"] for t in matrix} == {"reference", "reference-nockpt"}


def test_histories_round_trip_and_match_figures(matrix: list[dict[str, Any]]) -> None:
    for trial in matrix:
        history = history_from_json(trial["history"])
        assert history.trial_id == trial["trial_id"]
        assert history.fault_at_ns == trial["fault_at_ns"]
        assert sum(e.tokens for e in history.trial_ledger()) == trial["tokens_billed"]
        assert history.golden is not None
        assert history.golden.tokens_billed == trial["golden_tokens_billed"]
        assert bool(history.steps) == trial["checkpointing"]


def test_nockpt_waste_grows_with_crash_step(matrix: list[dict[str, Any]]) -> None:
    nockpt = [t for t in matrix
              if t["sut"] == "reference-nockpt" and t["trigger"] == "mid_step_late"]
    by_step = sorted((t["crash_step"], t["redundant_tokens"]) for t in nockpt)
    assert [w for _, w in by_step] == sorted(w for _, w in by_step)
    assert by_step[0][1] < by_step[-1][1]
