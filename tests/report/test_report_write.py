"""write_report over the fixture: every file is written, parses, and says what the tables say."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.report import ReportFiles, load_results, pick_representative, write_report

WriteResults = Callable[..., Path]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    from fixture_results import FIXTURE_PATH

    out = tmp_path_factory.mktemp("report")
    return write_report(load_results([FIXTURE_PATH]), out, title="fixture run")


def test_all_files_written(report: ReportFiles) -> None:
    names = {p.name for p in report.out_dir.iterdir()}
    assert names == {"index.html", "summary.md", "trials.csv", "summary.csv", "savings.csv",
                     "redundant_tokens.png", "time_to_recover.png", "timeline.png"}
    for chart in report.charts:
        assert chart.read_bytes().startswith(PNG_MAGIC)
        assert chart.stat().st_size > 5_000


def test_csvs_parse(report: ReportFiles) -> None:
    trials = pd.read_csv(report.trials_csv)
    assert len(trials) == 36 and "history" not in trials.columns
    assert trials["trial_id"].is_unique
    summary = pd.read_csv(report.summary_csv)
    assert list(summary["sut"]) == ["reference", "reference-nockpt"]
    assert list(summary["trials"]) == [18, 18]
    savings = pd.read_csv(report.savings_csv)
    assert len(savings) == 1 and savings["redundant_tokens_cut"].iloc[0] > 0.5


def test_html_is_self_contained_and_references_the_charts(report: ReportFiles) -> None:
    page = report.index_html.read_text(encoding="utf-8")
    assert "<style>" in page and "<script" not in page
    assert "fixture run" in page and html.escape(report.headline) in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == ["redundant_tokens.png", "time_to_recover.png", "timeline.png"]
    assert all((report.out_dir / s).is_file() for s in sources)
    assert "kill-reference-mid_step_late-restart-s0" in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page must not load remote files"


def test_markdown_summary_for_a_pr_comment(report: ReportFiles) -> None:
    text = report.summary_md.read_text(encoding="utf-8")
    assert text.startswith("## fixture run\n")
    assert "**PASSED: all 36 trials valid" in text
    assert f"- {report.headline}" in text
    savings = "| kill | reference-nockpt -> reference | local | 18 / 18 | 7,350 -> 2,190 | 70% |"
    assert savings in text
    # the long tables stay in the HTML; the Markdown is for a pull-request comment
    assert "| kill | reference | local | on | 18 | 18 / 0 / 0 |" not in text
    assert "| kill | reference | - | local | embedded | on | 18 | 18 / 0 / 0 |" in _cells(report)


def test_representative_trial_is_deterministic(fixture_path: Path) -> None:
    results = load_results([fixture_path])
    index = pick_representative(results.trials, results.histories)
    assert index is not None
    assert results.trials.loc[index, "trial_id"] == "kill-reference-mid_step_late-restart-s0"
    shuffled = results.trials.sample(frac=1.0, random_state=3)
    assert pick_representative(shuffled, results.histories) == index


def test_report_lists_bad_lines_and_invalid_trials(
    trials: list[dict[str, Any]], write_results: WriteResults, tmp_path: Path
) -> None:
    trials[4]["verdicts"]["no_replay"] = "false"
    trials[4]["valid"] = "false"
    path = write_results([*trials[:6], "not json", {**trials[6], "schema": 99}])
    files = write_report(load_results([path]), tmp_path / "out")
    text = files.summary_md.read_text(encoding="utf-8")
    assert f"{path}:7" in text and f"{path}:8" in text and "schema 99 is newer" in text
    assert f"- {trials[4]['trial_id']} (kill / reference): false; no_replay=false" in text
    assert text.index("**FAILED: 1 of 6 trials") < text.index("###")
    assert len(pd.read_csv(files.trials_csv)) == 6


def test_a_known_finding_is_listed_apart_and_does_not_fail_the_report(
    trials: list[dict[str, Any]], write_results: WriteResults, tmp_path: Path
) -> None:
    """A trial its run expected to fail (an xfail naming it: a SUT's known finding) is shown
    with its broken verdicts under the status, which passes -- as the gate judges it."""
    trials[4]["verdicts"]["no_replay"] = "false"
    trials[4]["valid"] = "false"
    run = {"schema": 1, "kind": "run", "run_id": trials[4]["run_id"], "planned": 1}
    end = {**run, "finished": 1, "exit_status": 0,
           "outcomes": {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 1, "xpassed": 0},
           "xfails": [{"test": "scenarios/test_kill.py::test_x", "reason": "known finding of "
                       "reference: documented", "trials": [trials[4]["trial_id"]]}]}
    path = write_results([*trials[:6], run, end])
    files = write_report(load_results([path]), tmp_path / "out")
    assert files.passed
    text = files.summary_md.read_text(encoding="utf-8")
    assert "**PASSED: 5 of 6 trials valid; the other 1 show known findings" in text, text[:600]
    assert (f"- known finding: {trials[4]['trial_id']} (kill / reference): false; "
            "no_replay=false") in text
    page = files.index_html.read_text(encoding="utf-8")
    assert "Known findings (expected failures of the suite" in page


def test_a_known_finding_of_another_run_fails_the_report(
    trials: list[dict[str, Any]], write_results: WriteResults, tmp_path: Path
) -> None:
    """Known findings are matched by run label and trial id: a run that expected the same trial
    id to fail excuses it in that run only."""
    trials[4]["verdicts"]["no_replay"] = "false"
    trials[4]["valid"] = "false"
    run = {"schema": 1, "kind": "run", "run_id": "another-run", "planned": 1}
    end = {**run, "finished": 1, "exit_status": 0,
           "outcomes": {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 1, "xpassed": 0},
           "xfails": [{"test": "scenarios/test_kill.py::test_x", "reason": "known finding of "
                       "reference: documented", "trials": [trials[4]["trial_id"]]}]}
    files = write_report(load_results([write_results([*trials[:6], run, end])]),
                         tmp_path / "out")
    assert not files.passed
    text = files.summary_md.read_text(encoding="utf-8")
    assert "**FAILED: 1 of 6 trials" in text, text[:600]


def test_report_without_histories_or_faults_still_renders(
    trials: list[dict[str, Any]], write_results: WriteResults, tmp_path: Path
) -> None:
    for trial in trials:
        trial.pop("history")
        trial["fault"] = "none"
    files = write_report(load_results([write_results(trials)]), tmp_path / "out")
    assert files.charts == ()
    page = files.index_html.read_text(encoding="utf-8")
    assert "<img" not in page and "No timeline" in page


def _cells(report: ReportFiles) -> str:
    """The HTML's table rows in the Markdown cell notation, to compare them with it."""
    page = report.index_html.read_text(encoding="utf-8")
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    return "\n".join("| " + " | ".join(html.unescape(c) for c in
                                       re.findall(r"<td>(.*?)</td>", row)) + " |" for row in rows)
