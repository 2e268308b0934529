"""Loading the results store: good lines load, bad lines are named by file:line and skipped."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.report import SUPPORTED_SCHEMA, ResultsInputError, load_results

WriteResults = Callable[..., Path]


def test_fixture_loads_without_issues(fixture_path: Path) -> None:
    results = load_results([fixture_path])
    assert results.issues == ()
    assert len(results.trials) == 36
    assert "history" not in results.trials.columns
    assert len(results.histories) == 36 and all(h is not None for h in results.histories)
    assert results.trials["fault_at_ns"].iloc[0] == json.loads(
        fixture_path.read_text().splitlines()[0])["fault_at_ns"]  # exact, not a float


def test_corrupted_lines_are_named_and_others_still_load(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    path = write_results([trials[0], '{"schema": 1, "kind": "trial", "trial_', "", trials[1],
                          "[1, 2]", trials[2]])
    results = load_results([path])
    assert list(results.trials["trial_id"]) == [t["trial_id"] for t in trials[:3]]
    errors = {i.line: str(i) for i in results.errors}
    assert sorted(errors) == [2, 3, 5]
    assert errors[2].startswith(f"{path}:2: error: not valid JSON")
    assert "empty line" in errors[3]
    assert "expected a JSON object" in errors[5]


def test_trailing_blank_lines_are_not_errors(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    path = write_results([trials[0], "", "  "])
    assert load_results([path]).issues == ()


def test_newer_schema_is_refused_line_by_line(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    newer = dict(trials[1], schema=SUPPORTED_SCHEMA + 1)
    results = load_results([write_results([trials[0], newer])])
    assert list(results.trials["trial_id"]) == [trials[0]["trial_id"]]
    (issue,) = results.errors
    assert issue.line == 2
    assert f"schema {SUPPORTED_SCHEMA + 1} is newer" in issue.message
    assert "upgrade durabench" in issue.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"schema": None}, 'no "schema" field'),
        ({"schema": "1"}, '"schema" must be an integer'),
        ({"schema": 0}, "not a known results-store schema"),
        ({"sut": ""}, 'non-empty string "sut"'),
        ({"checkpointing": "yes"}, 'boolean "checkpointing"'),
        ({"redundant_tokens": "12"}, '"redundant_tokens" must be a number or null'),
        ({"verdicts": {"terminates": "maybe"}}, 'verdict "terminates" is \'maybe\''),
        ({"valid": "yes"}, 'verdict "valid"'),
    ],
)
def test_malformed_trials_are_errors(
    trials: list[dict[str, Any]], write_results: WriteResults, change: dict[str, Any],
    expected: str,
) -> None:
    bad = {k: v for k, v in {**trials[0], **change}.items() if v is not None}
    results = load_results([write_results([bad])])
    assert results.trials.empty
    (issue,) = results.errors
    assert expected in issue.message, issue.message


def test_unknown_kinds_are_skipped_with_a_warning(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    future_line = {"schema": 1, "kind": "future-kind", "run_id": "x"}
    run_line = {"schema": 1, "kind": "run", "run_id": "x", "planned": 1}  # harness.run_plan's
    results = load_results([write_results([future_line, run_line, trials[0]])])
    assert len(results.trials) == 1
    assert results.errors == ()
    (warning,) = results.warnings
    assert warning.line == 1 and "'future-kind'" in warning.message


def test_null_figures_load_as_missing(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[0]["time_to_recover_s"] = None
    trials[0]["fault_at_ns"] = None
    results = load_results([write_results([trials[0]])])
    assert results.issues == ()
    assert results.trials["time_to_recover_s"].isna().all()
    assert results.trials["fault_at_ns"].isna().all()


def test_several_files_and_input_untouched(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    first = write_results(trials[:2], "a.jsonl")
    second = write_results([trials[2], "garbage"], "b.jsonl")
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]
    results = load_results([first, second])
    assert len(results.trials) == 3
    assert [str(i).split(": ")[0] for i in results.errors] == [f"{second}:2"]
    assert list(results.trials["source"]) == [str(first), str(first), str(second)]
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)] == before


def test_unreadable_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ResultsInputError, match="cannot read results file"):
        load_results([tmp_path / "missing.jsonl"])
    with pytest.raises(ResultsInputError):
        load_results([tmp_path])
