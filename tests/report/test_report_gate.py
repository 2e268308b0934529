"""evaluate_gate / format_gate: verdict rules, thresholds, the empty store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.report import GateLimits, evaluate_gate, format_gate, load_results

WriteResults = Callable[..., Path]


def _gate(trials: list[dict[str, Any]], write_results: WriteResults, **limits: Any) -> Any:
    results = load_results([write_results(trials)])
    assert results.errors == ()
    return evaluate_gate(results.trials, GateLimits(**limits))


def test_all_true_passes(trials: list[dict[str, Any]], write_results: WriteResults) -> None:
    result = _gate(trials, write_results)
    assert result.passed and result.trials == 36
    assert format_gate(result).startswith("gate passed: 36 trials")


def test_one_false_fails_and_says_where(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[7]["verdicts"]["no_replay"] = "false"
    trials[7]["valid"] = "false"
    result = _gate(trials, write_results, allow_unknown=True)
    assert not result.passed
    (failure,) = result.failures
    assert (failure.scenario, failure.sut, failure.trigger, failure.seed, failure.subject,
            failure.value) == ("kill", "reference", trials[7]["trigger"], str(trials[7]["seed"]),
                               "no_replay", "false")
    text = format_gate(result, "r.jsonl")
    assert text.splitlines()[0] == "gate FAILED: 1 failure(s) in 36 trials of r.jsonl"
    assert trials[7]["trial_id"] in text and "no_replay = false" in text


def test_unknown_fails_unless_allowed(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[20]["verdicts"]["terminates"] = "unknown"
    trials[20]["valid"] = "unknown"
    assert [f.subject for f in _gate(trials, write_results).failures] == ["terminates"]
    assert _gate(trials, write_results, allow_unknown=True).passed


def test_not_promised_is_ignored_but_missing_verdicts_fail(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    assert trials[30]["verdicts"]["no_replay"] == "not promised"
    trials[0]["verdicts"] = {}
    result = _gate(trials, write_results)
    assert [(f.subject, f.value) for f in result.failures] == [("verdicts", "none recorded")]


def test_valid_false_without_a_failing_verdict_fails(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[3]["valid"] = "false"
    assert [f.subject for f in _gate(trials, write_results).failures] == ["valid"]


def test_redundant_ratio_threshold(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    ratios = [t["redundant_tokens"] / t["golden_tokens_billed"] for t in trials
              if t["checkpointing"]]
    assert _gate(trials, write_results, max_redundant_ratio=max(ratios)).passed
    limit = sorted(ratios)[-4]  # three trials sit above this
    result = _gate(trials, write_results, max_redundant_ratio=limit - 1e-9)
    over = [r for r in ratios if r > limit - 1e-9]
    assert len(result.failures) == len(over)
    assert all(f.sut == "reference" for f in result.failures)


def test_redundant_ratio_missing_figure_fails(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[0]["golden_tokens_billed"] = None
    result = _gate(trials, write_results, max_redundant_ratio=10.0)
    assert [(f.trial_id, f.value) for f in result.failures] == [(trials[0]["trial_id"], "missing")]


def test_ttr_p95_threshold_per_scenario_and_sut(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    result = _gate(trials, write_results, max_ttr_p95=2.0)
    (failure,) = result.failures
    off = [t["time_to_recover_s"] for t in trials if t["sut"] == "reference-nockpt"]
    assert len(off) < 20  # too few for a p95: the gate judges the maximum and says so
    assert (failure.sut, failure.subject, failure.trigger) == (
        "reference-nockpt", f"time_to_recover_s max (n = {len(off)} < 20: no p95)", "")
    assert failure.value == f"{max(off):.3f} s over {len(off)} trials"
    assert _gate(trials, write_results, max_ttr_p95=10.0).passed


def test_ttr_p95_over_enough_trials_is_a_p95(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    off = [t for t in trials if t["sut"] == "reference-nockpt"]
    more = [{**t, "trial_id": f"{t['trial_id']}-again", "seed": 7} for t in off]
    result = _gate(trials + more, write_results, max_ttr_p95=2.0)
    failure = next(f for f in result.failures if f.sut == "reference-nockpt")
    assert failure.subject == "time_to_recover_s p95"


def test_never_recovered_fails_the_ttr_limit(
    trials: list[dict[str, Any]], write_results: WriteResults
) -> None:
    trials[2]["time_to_recover_s"] = None
    result = _gate(trials, write_results, max_ttr_p95=10.0)
    assert [(f.trial_id, f.subject) for f in result.failures] == [
        (trials[2]["trial_id"], "time_to_recover_s")]
    assert "never recovered" in format_gate(result)


def test_empty_store_never_passes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = evaluate_gate(load_results([empty]).trials, GateLimits(allow_unknown=True))
    assert not result.passed
    assert "empty store never passes" in format_gate(result)


@pytest.mark.parametrize("max_lines", [3])
def test_long_failure_lists_are_cut_to_one_screen(
    trials: list[dict[str, Any]], write_results: WriteResults, max_lines: int
) -> None:
    for trial in trials:
        trial["verdicts"]["terminates"] = "false"
    text = format_gate(_gate(trials, write_results), max_lines=max_lines)
    lines = text.splitlines()
    assert len(lines) == 1 + max_lines + 1
    assert lines[-1].startswith(f"... and {36 - max_lines} more")
