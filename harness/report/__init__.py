"""Reports and the CI gate over the results store (JSONL written by the trial runner).

This package reads stored results only; it never runs a trial. Typical use::

    results = load_results(["results.jsonl"])        # bad lines -> results.issues (file:line)
    files = write_report(results, "reports/run-1")    # index.html, summary.md, CSVs, PNGs
    print(headline(results.trials))
    verdict = evaluate_gate(results.trials, GateLimits(max_ttr_p95=5.0))
    print(format_gate(verdict)); exit(0 if verdict.passed else 1)

Exceptions: :class:`ResultsInputError` (a results file cannot be read at all) and its subclass
:class:`StoreMergeError` (several files are not the shards of one run). Problems with single
lines never raise; they are returned as :class:`LoadIssue` values and the other lines still load.
"""

from __future__ import annotations

from harness.report._gate import (
    GateFailure,
    GateLimits,
    GateResult,
    evaluate_gate,
    format_gate,
)
from harness.report._headline import headline, headline_lines
from harness.report._money import Projection
from harness.report._report import MONEY_CHARTS, ReportFiles, write_report
from harness.report._status import RunStatus, run_status
from harness.report._store import (
    SUPPORTED_SCHEMA,
    LoadedResults,
    LoadIssue,
    ResultsInputError,
    StoreMergeError,
    load_results,
)
from harness.report._tables import has_fault, savings_table, summary_table, verdict_table
from harness.report._timeline import pick_representative

__all__ = [
    "MONEY_CHARTS",
    "SUPPORTED_SCHEMA",
    "GateFailure",
    "GateLimits",
    "GateResult",
    "LoadIssue",
    "LoadedResults",
    "Projection",
    "ReportFiles",
    "ResultsInputError",
    "RunStatus",
    "StoreMergeError",
    "evaluate_gate",
    "format_gate",
    "has_fault",
    "headline",
    "headline_lines",
    "load_results",
    "pick_representative",
    "run_status",
    "savings_table",
    "summary_table",
    "verdict_table",
    "write_report",
]
