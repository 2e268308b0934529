"""Summary, verdict and savings tables and the headline, checked against hand computations."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.report import headline, load_results, savings_table, summary_table, verdict_table
from harness.report._tables import MIN_P95_SAMPLES, p95

WriteResults = Callable[..., Path]


def _frame(trials: list[dict[str, Any]], write_results: WriteResults) -> pd.DataFrame:
    results = load_results([write_results(trials)])
    assert results.issues == ()
    return results.trials


def _median(trials: list[dict[str, Any]], figure: str, checkpointing: bool) -> float:
    return statistics.median(t[figure] for t in trials
                             if t["checkpointing"] == checkpointing and t[figure] is not None)


def test_summary_rows_per_scenario_and_sut(
    matrix: list[dict[str, Any]], fixture_path: Path
) -> None:
    summary = summary_table(load_results([fixture_path]).trials)
    assert list(zip(summary["scenario"], summary["sut"], strict=True)) == [
        ("kill", "reference"), ("kill", "reference-nockpt")]
    ref, nockpt = summary.to_dict("records")
    assert ref["trials"] == nockpt["trials"] == 18
    assert ref["checkpointing"] and not nockpt["checkpointing"]
    assert (ref["valid_true"], ref["valid_false"], ref["valid_unknown"]) == (18, 0, 0)
    assert (ref["verdicts_true"], ref["verdicts_not_promised"]) == (18 * 7, 0)
    assert (nockpt["verdicts_true"], nockpt["verdicts_not_promised"]) == (18 * 5, 18 * 2)
    assert ref["redundant_tokens_p50"] == _median(matrix, "redundant_tokens", True)
    assert nockpt["time_to_recover_s_p50"] == pytest.approx(
        _median(matrix, "time_to_recover_s", False))
    # 18 trials per SUT are fewer than MIN_P95_SAMPLES: no p95, rather than the maximum.
    assert len([t for t in matrix if not t["checkpointing"]]) < MIN_P95_SAMPLES
    assert math.isnan(nockpt["redundant_tokens_p95"])
    assert ref["never_recovered"] == 0


def test_p95_needs_enough_samples() -> None:
    values = pd.Series(range(MIN_P95_SAMPLES))
    rank = 0.95 * (MIN_P95_SAMPLES - 1)
    assert p95(values) == pytest.approx(rank)  # 0..n-1: the quantile is the rank itself
    assert math.isnan(p95(values.iloc[1:]))


def test_verdict_table_counts_false_unknown_and_not_promised(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[0]["verdicts"]["no_replay"] = "false"
    trials[1]["verdicts"]["effects_once"] = "unknown"
    table = verdict_table(_frame(trials, write_results)).set_index("sut")
    assert table.loc["reference", "no_replay"] == "17 true, 1 false"
    assert table.loc["reference", "effects_once"] == "17 true, 1 unknown"
    assert table.loc["reference-nockpt", "no_replay"] == "not promised"
    assert table.loc["reference-nockpt", "terminates"] == "18 true"


def test_savings_compare_the_twins(matrix: list[dict[str, Any]], fixture_path: Path) -> None:
    (row,) = savings_table(load_results([fixture_path]).trials).to_dict("records")
    on = _median(matrix, "redundant_tokens", True)
    off = _median(matrix, "redundant_tokens", False)
    assert (row["scenario"], row["ckpt_sut"], row["nockpt_sut"]) == (
        "kill", "reference", "reference-nockpt")
    assert row["redundant_tokens_cut"] == pytest.approx(1 - on / off)
    assert row["redundant_tokens_ratio"] == pytest.approx(off / on)
    assert row["time_to_recover_ratio"] == pytest.approx(
        _median(matrix, "time_to_recover_s", False) / _median(matrix, "time_to_recover_s", True))


def test_no_savings_row_when_one_mode_is_missing(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    only_on = [t for t in trials if t["checkpointing"]]
    assert savings_table(_frame(only_on, write_results)).empty


def test_headline_matches_a_hand_computation(matrix: list[dict[str, Any]],
                                             fixture_path: Path) -> None:
    on = _median(matrix, "redundant_tokens", True)
    off = _median(matrix, "redundant_tokens", False)
    ttr_on = _median(matrix, "time_to_recover_s", True)
    ttr_off = _median(matrix, "time_to_recover_s", False)
    text = headline(load_results([fixture_path]).trials)
    assert text == (
        f"kill: redundant tokens p50 {on:,.0f} with checkpointing (1 runtime) vs {off:,.0f} "
        f"without (1 runtime); time to recover p50 {ttr_on:.2f} s vs {ttr_off:.2f} s; "
        "n = 18 per runtime; all 36 trials valid")


def test_headline_is_per_scenario_never_pooled(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    """A scenario that wastes nothing must not drown one that wastes a lot."""
    calm = [{**t, "scenario": "db_crash", "trial_id": t["trial_id"] + "-calm",
             "redundant_tokens": 0} for t in trials]  # fmt: skip
    lines = headline(_frame(trials + calm, write_results)).splitlines()
    assert [line.split(":")[0] for line in lines] == ["db_crash", "kill"]
    assert "redundant tokens p50 0 with checkpointing (1 runtime) vs 0 without" in lines[0]
    on, off = (_median(trials, "redundant_tokens", mode) for mode in (True, False))
    assert f"p50 {on:,.0f} with checkpointing (1 runtime) vs {off:,.0f} without" in lines[1]
    assert "%" not in "".join(lines)  # no cut of a few trials' medians


def test_headline_with_one_mode_says_what_is_there(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    only_off = [t for t in trials if not t["checkpointing"]]
    text = headline(_frame(only_off, write_results))
    assert text.startswith(
        f"kill: redundant tokens p50 {_median(only_off, 'redundant_tokens', False):,.0f} "
        "without (1 runtime); time to recover p50 ")
    only_on = [t for t in trials if t["checkpointing"]]
    text = headline(_frame(only_on, write_results))
    assert "with checkpointing (1 runtime); time to recover" in text and "without" not in text


def test_headline_without_faults_or_trials(
    trials: list[dict[str, Any]], write_results: WriteResults, tmp_path: Path
) -> None:
    for trial in trials[:3]:
        trial["fault"] = "none"
    assert headline(_frame(trials[:3], write_results)) == (
        "3 trials, none with a fault: nothing to compare")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert headline(load_results([empty]).trials) == "no trials in the results store"


def test_environments_are_compared_not_mixed(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    docker = [{**t, "env": "docker", "trial_id": t["trial_id"] + "-docker",
               "redundant_tokens": (t["redundant_tokens"] or 0) * 2} for t in trials]  # fmt: skip
    frame = _frame(trials + docker, write_results)
    summary = summary_table(frame)
    assert list(zip(summary["sut"], summary["env"], strict=True)) == [
        ("reference", "docker"), ("reference", "local"),
        ("reference-nockpt", "docker"), ("reference-nockpt", "local")]
    assert set(verdict_table(frame)["env"]) == {"docker", "local"}
    savings = savings_table(frame)
    by_env = dict(zip(savings["env"], savings["redundant_tokens_p50_nockpt"], strict=True))
    assert by_env["docker"] == 2 * by_env["local"]
