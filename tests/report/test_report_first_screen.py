"""The report's first screen (issue 22): counts that add up, the environment, and the runtime x
fault matrix, checked against the real CI run in reports/example and hand-made changes of it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from harness.report import load_results
from harness.report._matrix import FAULT_FAMILIES, matrix_display
from harness.report._overview import overview
from harness.report._store import finding_key
from harness.run_plan import ExpectedFailure, RunSummary

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "example" / "results.jsonl"


@pytest.fixture(scope="module")
def example() -> pd.DataFrame:
    return load_results([EXAMPLE]).trials


def _cell(table_rows: tuple[tuple[str, ...], ...], headers: tuple[str, ...], sut: str,
          family: str) -> str:
    column = next(i for i, h in enumerate(headers) if h.split(" ")[0] == family)
    return next(r[column] for r in table_rows if r[0].split(" ")[0] == sut)


def test_one_row_per_sut_twins_included_one_column_per_fault_family(
        example: pd.DataFrame) -> None:
    table = matrix_display(example)
    assert table is not None
    faulted = example[example["scenario"].isin(FAULT_FAMILIES)]
    assert {r[0].split(" ")[0] for r in table.rows} == set(faulted["sut"])
    assert [h.split(" ")[0] for h in table.headers[1:]] == [
        f for f in FAULT_FAMILIES if f in set(faulted["scenario"])]
    on = [r[0] for r in table.rows if r[0].endswith("(on)")]
    assert table.rows[:len(on)] == tuple(r for r in table.rows if r[0].endswith("(on)"))


def test_a_cell_holds_the_runtimes_own_medians(example: pd.DataFrame) -> None:
    table = matrix_display(example)
    assert table is not None
    for sut in sorted(set(example["sut"])):
        trials = example[(example["scenario"] == "kill") & (example["sut"] == sut)]
        cell = _cell(table.rows, table.headers, sut, "kill").splitlines()
        tokens = trials["redundant_tokens"].median()
        ttr = trials["time_to_recover_s"].median()
        assert cell[0] == (f"{tokens:,.0f} tok · "
                           f"${trials['redundant_cost_usd'].median():.4f}")
        assert cell[1] == f"recover {ttr:.2f} s, n={len(trials)}"
        assert cell[2] == "ok"


def test_a_broken_verdict_and_a_known_finding_are_marked(example: pd.DataFrame) -> None:
    trials = example.copy()
    kill = trials.index[(trials["scenario"] == "kill") & (trials["sut"] == "dbos")]
    trials.loc[kill[0], "verdict.no_replay"] = "false"
    seen = finding_key(trials.loc[kill[1]].to_dict())
    table = matrix_display(trials, [seen])
    assert table is not None
    assert _cell(table.rows, table.headers, "dbos", "kill").splitlines()[2] == (
        "FALSE: no_replay x1; known finding seen x1")
    assert _cell(table.rows, table.headers, "temporal", "kill").splitlines()[2] == "ok"


def test_a_known_finding_of_another_run_is_no_excuse(example: pd.DataFrame) -> None:
    trials = example.copy()
    kill = trials.index[(trials["scenario"] == "kill") & (trials["sut"] == "dbos")]
    trials.loc[kill[0], "verdict.no_replay"] = "false"
    other_run = ("another-run", str(trials.loc[kill[0], "trial_id"]))  # same trial id
    table = matrix_display(trials, [other_run])
    assert table is not None
    assert _cell(table.rows, table.headers, "dbos", "kill").splitlines()[2] == (
        "FALSE: no_replay x1")


def test_counts_add_up_and_name_the_environment(example: pd.DataFrame) -> None:
    summary = RunSummary(
        run_id="r1", outcomes={"passed": 7, "failed": 1, "skipped": 3, "xfailed": 2},
        skip_reasons={"oom: no memory cgroup": 2, "docker unavailable": 1},
        xfails=(ExpectedFailure("t1", "why", ("a",)), ExpectedFailure("t2", "why", ("b", "c"))),
        cores=2, load_1m={"mean": 2.5, "max": 4.25}, wall_s=120.0)
    first = overview(example, [summary])
    n = len(example)
    valid = int((example["valid"] == "true").sum())
    assert first.counts[0] == f"Trials: {n} = {valid} valid + {n - valid} not valid"
    assert first.counts[1].startswith(
        "Scenario tests: 13 run = 7 passed + 1 failed + 3 skipped + 2 expected failures")
    assert first.skips == ("skipped x2: oom: no memory cgroup", "skipped x1: docker unavailable")
    assert first.expected_trials == ("a", "b", "c")
    assert "cores 2; 1-minute load average while it ran: mean 2.5, max 4.2" in first.environment
    assert "wall time 2.0 min, 6.5 scenario tests per minute" in first.environment
    shards = overview(example, [summary, replace(summary, run_id="r1", wall_s=60.0)])
    assert "wall time 3.0 min over 2 runs or shards, 8.7 scenario tests per minute" in (
        shards.environment)
    assert "Postgres 16.2" in first.environment and "Toxiproxy real 2.12.0" in first.environment


def test_an_old_store_says_not_recorded(example: pd.DataFrame) -> None:
    first = overview(example, [])
    assert not first.recorded
    assert "not recorded" in first.counts[1]
    assert "cores not recorded; load average while it ran: not recorded" in first.environment


def test_the_embedded_toxiproxy_is_named_as_such(example: pd.DataFrame) -> None:
    first = overview(example.assign(toxiproxy="embedded"), [])
    assert "Toxiproxy embedded (the built-in stand-in, not the real server)" in first.environment


def test_a_long_fault_window_is_shown_beside_time_to_recover(example: pd.DataFrame) -> None:
    from harness.report._matrix import WINDOW_COLUMN, fault_windows

    results = load_results([EXAMPLE])
    windows = fault_windows(results.histories)
    assert len(windows) == len(example)
    assert all(w >= 0 for w in windows if w == w)  # NaN: no heal recorded
    long_db = example.assign(**{WINDOW_COLUMN: [
        11.5 if s == "db_crash" else 0.2 for s in example["scenario"]]})
    table = matrix_display(long_db)
    assert table is not None
    assert "fault lasted 11.5 s" in _cell(table.rows, table.headers, "reference", "db_crash")
    assert "fault lasted" not in _cell(table.rows, table.headers, "reference", "kill")
