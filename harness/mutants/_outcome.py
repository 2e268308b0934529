"""What one mutant run came to: caught, missed or error, judged from what pytest left behind.

Pure functions of pytest's exit status, its JUnit XML, the results store and the tail of its
output, so they are tested with hand-written inputs:

- ``caught``: a target test failed on an assertion or a verdict (``AssertionError``, or
  ``pytest.fail`` -- :meth:`TrialRunner.require_valid` -- shown as ``Failed``). The detail is
  the first line of the first such failure, with the trials' promised verdicts that were not
  true (from the results store);
- ``missed``: pytest exited 0 and at least one target test passed;
- ``error``: anything else -- a collection or usage error, a fixture (environment) error, a test
  that raised another exception (a harness crash), every target skipped, pytest interrupted or
  timed out, a stale mutant. The detail says which.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Result = Literal["caught", "missed", "error"]
TestOutcome = Literal["passed", "failed", "error", "skipped"]

CAUGHT_PREFIXES = ("AssertionError", "Failed:")
"""How JUnit's failure message starts when a test failed on an assertion or on
``pytest.fail`` (a verdict); any other exception is a crash, not a catch."""


@dataclass(frozen=True)
class CaseReport:
    """One test case of the JUnit XML: ``test_file.py::name[params]``, its outcome and the
    first line of its failure, error or skip message."""

    test: str
    outcome: TestOutcome
    message: str = ""


@dataclass(frozen=True)
class Judgement:
    result: Result
    detail: str


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def junit_reports(xml_text: str) -> list[CaseReport]:
    """The test cases of a pytest JUnit XML document (an unreadable one has none)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return []
    reports = []
    for case in root.iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        test = f"{module}.py::{case.get('name', '?')}" if module else case.get("name", "?")
        outcome: TestOutcome = "passed"
        message = ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = "failed" if tag == "failure" else "error" if tag == "error" else (
                    "skipped")
                message = _first_line(element.get("message") or element.text or "")
                break
        reports.append(CaseReport(test, outcome, message))
    return reports


def not_true_verdicts(results_lines: Iterable[str]) -> list[str]:
    """``property=verdict`` for every promised verdict that is not true, over the trial lines
    of a results store (unreadable lines are left out: pytest's own report decides)."""
    found: dict[str, None] = {}
    for line in results_lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("kind") != "trial":
            continue
        promised = set(record.get("promised") or ())
        for prop, verdict in (record.get("verdicts") or {}).items():
            if prop in promised and verdict != "true":
                found[f"{prop}={verdict}"] = None
    return list(found)


def _error_line(log_tail: Sequence[str]) -> str:
    """The line of pytest's output that says what went wrong (its ``ERROR`` line, else the last
    non-blank one)."""
    lines = [ln.strip() for ln in log_tail if ln.strip()]
    for line in lines:
        if line.startswith(("ERROR", "E   ")):
            return line
    return lines[-1] if lines else "(no output)"


def judge(exit_code: int, reports: Sequence[CaseReport], verdicts: Sequence[str],
          log_tail: Sequence[str]) -> Judgement:
    """caught / missed / error (module doc). ``exit_code`` is pytest's (negative: killed by that
    signal)."""
    caught = [r for r in reports
              if r.outcome == "failed" and r.message.startswith(CAUGHT_PREFIXES)]  # fmt: skip
    if caught:
        detail = f"{caught[0].test}: {caught[0].message}"
        if verdicts:
            detail += f" [{', '.join(verdicts)}]"
        return Judgement("caught", detail)
    broken = [r for r in reports if r.outcome in ("failed", "error")]
    if broken:
        return Judgement("error", f"{broken[0].test}: {broken[0].outcome}: {broken[0].message}")
    if exit_code == 0 and any(r.outcome == "passed" for r in reports):
        passed = [r.test for r in reports if r.outcome == "passed"]
        return Judgement("missed", f"passed: {', '.join(passed)}")
    if reports and all(r.outcome == "skipped" for r in reports):
        return Judgement("error", f"no target ran: {reports[0].test} skipped: "
                                  f"{reports[0].message}")
    if exit_code == 5:
        return Judgement("error", "the targets select no test (pytest exit 5)")
    return Judgement("error", f"pytest exit {exit_code}: {_error_line(log_tail)}")
