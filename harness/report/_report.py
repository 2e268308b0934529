"""``write_report``: a results store -> a report directory.

Steps, in order: make the directory; read the run lines of the sources (test outcomes, expected
failures, the machine: :mod:`harness.run_plan`); write ``trials.csv`` (one row per trial, no
history), ``summary.csv`` (per scenario x SUT) and ``savings.csv`` (checkpointing on vs off);
draw the timeline of every failed trial (``timeline-<row>.png``, for the status), the money
charts (:data:`MONEY_CHARTS`) and the other charts (PNG files beside the HTML; a chart with
nothing to draw is left out and the page says so); write ``index.html`` and ``summary.md``, both
opening with the status, the counts and environment, the runtime x fault matrix and a glossary.
Only files this module names are written or replaced in the directory; the input files are never
touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from harness.report._charts import Chart, redundant_tokens_chart, time_to_recover_chart
from harness.report._display import (
    KNOWN_FINDINGS,
    DisplayTable,
    invalid_trials_display,
    issues_display,
    known_findings_display,
    savings_display,
    summary_display,
    verdicts_display,
)
from harness.report._gate import known_findings
from harness.report._glossary import GLOSSARY
from harness.report._headline import headline
from harness.report._matrix import WINDOW_COLUMN, fault_windows, matrix_display
from harness.report._money import Projection, money_section
from harness.report._overview import Overview, overview
from harness.report._page import ReportPage, join_meta, render_html, render_markdown
from harness.report._status import draw_failed_timelines, run_status
from harness.report._store import LoadedResults
from harness.report._tables import savings_table, summary_table
from harness.report._timeline import pick_representative, timeline_chart
from harness.run_plan import read_run_summaries

DEFAULT_TITLE = "durabench report"
CHART_FILES = ("redundant_tokens.png", "time_to_recover.png", "timeline.png",
               "waste_per_crash_usd.png")

ChartMaker = Callable[[pd.DataFrame, Path], "Chart | None"]
MONEY_CHARTS: tuple[ChartMaker, ...] = ()
"""Charts shown right after the headline, before any table: what the faults cost in money.
Each draws one PNG into the report directory from the trials frame and returns its Chart, or
None when there is nothing to draw. The money-per-crash chart and projection (harness/report/
_money.py) go here, e.g. ``MONEY_CHARTS = (money_per_crash_chart, projection_chart)``."""
MARKDOWN_TABLES = frozenset({"What checkpointing saved", KNOWN_FINDINGS,
                             "Problems reading the results"})
"""The tables the Markdown summary keeps (the HTML has all of them)."""


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    out_dir: Path
    index_html: Path
    summary_md: Path
    trials_csv: Path
    summary_csv: Path
    savings_csv: Path
    charts: tuple[Path, ...]
    headline: str
    passed: bool = False
    """The status: at least one trial and every trial valid."""
    status_line: str = ""
    """The status as one line (``PASSED: ...`` / ``FAILED: ...``)."""
    counts: tuple[str, ...] = ()
    """The counts under the status (trials, scenario tests, skip reasons)."""


def _charts(results: LoadedResults, out_dir: Path) -> tuple[tuple[Chart, ...], tuple[str, ...]]:
    for name in CHART_FILES:
        (out_dir / name).unlink(missing_ok=True)
    trials = results.trials
    charts: list[Chart] = []
    notes: list[str] = []
    for draw, what in ((redundant_tokens_chart, "redundant tokens"),
                       (time_to_recover_chart, "time to recover")):
        chart = draw(trials, out_dir)
        if chart is None:
            notes.append(f"No {what} chart: no trial with a fault has that figure.")
        else:
            charts.append(chart)
    index = pick_representative(trials, results.histories)
    history = None if index is None else results.histories[index]
    if index is None or history is None:
        notes.append("No timeline: no trial in the results carries a history.")
    else:
        charts.append(timeline_chart(trials.loc[index].to_dict(), history, out_dir))
    return tuple(charts), tuple(notes)


def _meta(results: LoadedResults) -> tuple[str, ...]:
    trials = results.trials
    runs = sorted(str(r) for r in trials["run_id"].dropna().unique()) if "run_id" in trials else []
    return join_meta([
        ("results", ", ".join(results.sources)),
        ("trials", str(len(trials))),
        ("runs", ", ".join(runs[:10]) + (f" and {len(runs) - 10} more" if len(runs) > 10 else "")),
        ("problems", f"{len(results.errors)} unreadable line(s), {len(results.warnings)} "
                     "warning(s); see the last table" if results.issues else ""),
        ("generated", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ])


def _tables(results: LoadedResults, first: Overview) -> tuple[DisplayTable, ...]:
    trials = results.trials
    tables = [savings_display(trials), summary_display(trials), verdicts_display(trials),
              invalid_trials_display(trials)]
    findings = known_findings_display(
        trials, first.expected_failures if first.recorded else None)
    if findings is not None:
        tables.insert(1, findings)
    if results.errors:
        tables.append(issues_display(results.errors))
    if results.warnings:
        tables.append(issues_display(results.warnings, "Warnings reading the results"))
    return tuple(tables)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def write_report(results: LoadedResults, out_dir: str | Path,
                 title: str | None = None, projection: Projection | None = None) -> ReportFiles:
    """Write the report of ``results`` into ``out_dir`` (created if needed); ``projection``
    sets the failure rate and runs per day of the monthly money projection (crash sweeps)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trials_csv = _write_csv(results.trials, out / "trials.csv")
    summary_csv = _write_csv(summary_table(results.trials), out / "summary.csv")
    savings_csv = _write_csv(savings_table(results.trials), out / "savings.csv")
    charts, notes = _charts(results, out)
    timelines = draw_failed_timelines(results.trials, results.histories, out, timeline_chart)
    money = tuple(c for make in MONEY_CHARTS if (c := make(results.trials, out)) is not None)
    # harness/report/_money.py: the crash sweep's money chart and projection, when present
    sweep_charts, money_tables = money_section(results.trials, out, projection)
    money = (*sweep_charts, *money)
    summaries = read_run_summaries(results.sources)
    first = overview(results.trials, summaries)
    known = set(known_findings(summaries))  # (run label, trial id) of each expected failure
    page = ReportPage(
        title=title or DEFAULT_TITLE, headline=headline(results.trials), meta=_meta(results),
        tables=_tables(results, first), charts=charts, chart_notes=notes,
        status=run_status(results.trials, timelines, known),
        money_charts=money,
        top_tables=money_tables, markdown_tables=MARKDOWN_TABLES, overview=first,
        matrix=matrix_display(
            results.trials.assign(**{WINDOW_COLUMN: fault_windows(results.histories)}),
            known),
        glossary=GLOSSARY)
    index_html = out / "index.html"
    index_html.write_text(render_html(page), encoding="utf-8")
    summary_md = out / "summary.md"
    summary_md.write_text(render_markdown(page), encoding="utf-8")
    return ReportFiles(
        out_dir=out, index_html=index_html, summary_md=summary_md, trials_csv=trials_csv,
        summary_csv=summary_csv, savings_csv=savings_csv,
        charts=tuple(out / c.filename for c in (*money, *charts)), headline=page.headline,
        passed=page.status is not None and page.status.passed,
        status_line=page.status.line() if page.status else "", counts=(*first.counts, *first.skips))
