"""The report of a real run (kill, db_crash, partition and pause on the local environment, stored as
fixtures/real_run.jsonl): it opens with the status, counts each trial once, pairs each SUT with
its twin per scenario, and links a failed trial's timeline. Figures come from the real records,
never from a re-implementation of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.report import (
    GateLimits,
    evaluate_gate,
    format_gate,
    headline,
    load_results,
    write_report,
)
from harness.report._headline import headline_lines

REAL_RUN = Path(__file__).parent / "fixtures" / "real_run.jsonl"


def test_each_trial_counts_once() -> None:
    lines = [json.loads(line) for line in REAL_RUN.read_text().splitlines()]
    trials = [t for t in lines if t["kind"] == "trial"]
    unique = {(t["env"], t["run_id"].split("-")[0], t["trial_id"],
               json.dumps([t["fault_params"], t["trigger_spec"]], sort_keys=True))
              for t in trials}
    results = load_results([REAL_RUN])
    assert len(unique) < len(trials)  # the comparison tests re-ran trials in another process
    assert len(results.trials) == len(unique)
    assert len(results.warnings) == len(trials) - len(unique)
    assert all("counted once" in w.message for w in results.warnings)


def test_cases_that_share_a_trial_id_are_different_trials() -> None:
    """partition's link cut ``down`` and black-holed ``timeout`` at one crash point share a trial
    id; their fault parameters tell them apart, so neither is dropped as a duplicate."""
    trials = load_results([REAL_RUN]).trials
    partition = trials[(trials["scenario"] == "partition") & (trials["sut"] == "reference")]
    assert len(partition) == 4
    assert partition["trial_id"].nunique() == 2


def test_headline_is_one_line_per_scenario_with_each_sides_figures() -> None:
    trials = load_results([REAL_RUN]).trials
    lines = headline_lines(trials)
    scenarios = ["db_crash", "kill", "partition", "pause"]
    assert [line.split(":")[0] for line in lines] == scenarios
    for line, scenario in zip(lines, scenarios, strict=True):
        group = trials[trials["scenario"] == scenario]
        on = group[group["checkpointing"]]["redundant_tokens"].median()
        off = group[~group["checkpointing"]]["redundant_tokens"].median()
        assert (f"{scenario}: redundant tokens p50 {on:,.0f} with checkpointing (1 runtime) vs "
                f"{off:,.0f} without (1 runtime);") in line
        sizes = set(group.groupby("sut").size())
        assert (f"n = {sizes.pop()} per runtime" if len(sizes) == 1 else "per runtime") in line
        assert "%" not in line
    assert headline(trials) == "\n".join(lines)


def _first_table(text: str, marker: str) -> int:
    return text.index(marker)


def test_a_passing_run_says_so_before_any_table(tmp_path: Path) -> None:
    results = load_results([REAL_RUN])
    n = len(results.trials)
    files = write_report(results, tmp_path / "report")
    assert files.passed
    md = files.summary_md.read_text()
    html = files.index_html.read_text()
    first_screen = [f"**PASSED: all {n} trials valid", f"- Trials: {n} = {n} valid + 0 not",
                    "- Environment: local;", "### What a fault costs, per runtime",
                    "| reference (on) |", "| reference-nockpt (off) |", "Words used here",
                    "### One line per scenario", "- kill: redundant tokens p50"]
    assert [md.index(marker) for marker in first_screen] == sorted(
        md.index(marker) for marker in first_screen)
    assert html.index(f"PASSED: all {n} trials") < html.index('<table class="matrix">')
    assert html.index('<table class="matrix">') < html.index("One line per scenario")
    assert len(md.splitlines()) < 60  # short enough for a pull-request comment
    assert "### Per scenario" not in md and "Per scenario" in html


@pytest.mark.parametrize("verdict", ["false", "unknown"])
def test_a_failed_trial_is_named_with_its_property_and_timeline(tmp_path: Path,
                                                                 verdict: str) -> None:
    lines = [json.loads(line) for line in REAL_RUN.read_text().splitlines()]
    broken = next(t for t in lines if t["kind"] == "trial" and t["sut"] == "reference")
    broken["verdicts"]["no_replay"] = verdict
    broken["valid"] = verdict
    store = tmp_path / "results.jsonl"
    store.write_text("".join(json.dumps(t) + "\n" for t in lines))
    results = load_results([store])
    n = len(results.trials)
    files = write_report(results, tmp_path / "report")
    assert not files.passed
    md, html = files.summary_md.read_text(), files.index_html.read_text()
    status = f"**FAILED: 1 of {n} trials are not valid (no_replay={verdict})**"
    assert md.index(status) < md.index("###")
    row = f"- {broken['trial_id']} ({broken['scenario']} / reference): {verdict}; no_replay="
    assert row in md
    timeline = next((tmp_path / "report").glob("timeline-*.png"))
    assert f"([timeline]({timeline.name}))" in md
    assert f'<a href="{timeline.name}">timeline</a>' in html
    assert html.index(f"FAILED: 1 of {n}") < html.index("<table>")


def test_the_gate_counts_each_trial_once_and_passes_a_healthy_run() -> None:
    """time_to_recover follows docs/architecture.md: the db_crash trials the worker rode out
    have one, so a time-to-recover limit judges them instead of failing them as never recovered."""
    trials = load_results([REAL_RUN]).trials
    result = evaluate_gate(trials, GateLimits(max_ttr_p95=60.0))
    assert result.trials == len(trials) == 28
    assert result.passed, format_gate(result)
    assert trials["time_to_recover_s"].notna().all()
