"""The CI gate: does recovery stay correct, and do the figures stay within their limits?

Rules (a run passes only when none is broken):
- the store holds at least one trial (an empty store never passes);
- every promised verdict of every trial is ``"true"``. ``"false"`` always fails; ``"unknown"`` fails
  unless ``allow_unknown``; ``"not promised"`` is ignored. A trial with no promised verdict at all,
  or whose composed ``valid`` is not true while no single verdict explains it, fails as unknown;
- ``max_redundant_ratio`` R: every checkpointing-on trial has redundant_tokens /
  golden_tokens_billed <= R (a missing figure fails: it cannot be checked);
- ``max_ttr_p95`` S: per scenario x SUT, the p95 of time_to_recover_s over trials with a fault is
  <= S, and every trial with a fault has a time to recover (null means it never recovered). A
  p95 needs at least :data:`~harness.report._tables.MIN_P95_SAMPLES` values; over fewer, the
  gate judges their maximum instead (what a p95 of a handful of runs would be anyway) and says
  so: it never passes a group because it was too small to have a tail.

A SUT's **known finding** is not a failure of the gate: a trial that its run lists among the
expected failures of the suite (an xfail test naming the trial; ``known`` maps (run label, trial
id) to the finding's text) and whose verdicts break a rule above is reported as a known finding,
beside the verdict line, not failed -- the suite marks a finding it has checked and documented
as an expected failure so that it stays visible without failing every run. A rule broken by a
trial that is not listed still fails, and so does a listed trial's figure limit
(``max_redundant_ratio``, ``max_ttr_p95``): a known finding excuses its verdicts only.

Unreadable input is not judged here: the CLI refuses it (exit 2) before calling
:func:`evaluate_gate`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.report._store import VERDICT_PREFIX, FindingKey, finding_key
from harness.report._tables import MIN_P95_SAMPLES, has_fault, quantile, verdict_columns
from harness.run_plan import RunSummary

MAX_LISTED_FAILURES = 20


@dataclass(frozen=True)
class GateLimits:
    max_redundant_ratio: float | None = None
    max_ttr_p95: float | None = None
    allow_unknown: bool = False


@dataclass(frozen=True)
class GateFailure:
    """One broken rule. ``subject`` is a property or a figure; ``trigger``/``seed`` are empty for
    rules over a whole scenario x SUT group."""

    scenario: str
    sut: str
    trigger: str
    seed: str
    subject: str
    value: str
    limit: str
    trial_id: str = ""

    def __str__(self) -> str:
        where = f"{self.scenario} / {self.sut}"
        if self.trigger or self.seed:
            where += f" / {self.trigger} / seed {self.seed}"
        if self.trial_id:
            where += f" [{self.trial_id}]"
        return f"FAIL {where}: {self.subject} = {self.value} (limit: {self.limit})"


@dataclass(frozen=True)
class KnownFinding:
    """A trial whose broken verdicts are a known finding of its SUT (an expected failure of its
    run): ``subjects`` the properties it broke, ``reason`` the finding's text."""

    trial_id: str
    sut: str
    subjects: tuple[str, ...]
    reason: str

    def __str__(self) -> str:
        first = self.reason.split(": ", 2)
        text = ": ".join(first[:2]) if len(first) > 2 else self.reason
        return (f"KNOWN {self.sut} [{self.trial_id}]: {', '.join(self.subjects)} -- "
                f"{text[:160]}{'...' if len(text) > 160 else ''}")


@dataclass(frozen=True)
class GateResult:
    trials: int
    failures: tuple[GateFailure, ...]
    limits: GateLimits
    known: tuple[KnownFinding, ...] = ()

    @property
    def passed(self) -> bool:
        return self.trials > 0 and not self.failures


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _figure(value: Any) -> float | None:
    if value is None or value is pd.NA or isinstance(value, bool):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _failure(row: Mapping[Any, Any], subject: str, value: str, limit: str) -> GateFailure:
    return GateFailure(_text(row.get("scenario")), _text(row.get("sut")),
                       _text(row.get("trigger")), _text(row.get("seed")), subject, value, limit,
                       _text(row.get("trial_id")))


def _verdict_failures(row: Mapping[Any, Any], columns: list[str],
                      limits: GateLimits) -> Iterator[GateFailure]:
    expected = "true or unknown" if limits.allow_unknown else "true"
    promised = {c.removeprefix(VERDICT_PREFIX): row[c] for c in columns
                if isinstance(row[c], str) and row[c] != "not promised"}
    bad = {p: v for p, v in promised.items()
           if v == "false" or (v == "unknown" and not limits.allow_unknown)}
    for prop, value in bad.items():
        yield _failure(row, prop, value, expected)
    if not promised and not limits.allow_unknown:
        yield _failure(row, "verdicts", "none recorded", "every promised property judged")
    elif not bad and (row.get("valid") == "false" or (
            row.get("valid") == "unknown" and not limits.allow_unknown)):
        yield _failure(row, "valid", str(row.get("valid")), expected)


def _ratio_failures(row: Mapping[Any, Any], limit: float) -> Iterator[GateFailure]:
    if not row.get("checkpointing"):
        return
    redundant = _figure(row.get("redundant_tokens"))
    golden = _figure(row.get("golden_tokens_billed"))
    if redundant is None or golden is None:
        yield _failure(row, "redundant_tokens / golden_tokens_billed", "missing", f"<= {limit:g}")
        return
    ratio = math.inf if golden == 0 and redundant > 0 else (0.0 if golden == 0 else
                                                            redundant / golden)
    if ratio > limit:
        yield _failure(row, "redundant_tokens / golden_tokens_billed",
                       f"{ratio:.3f} ({redundant:,.0f} / {golden:,.0f})", f"<= {limit:g}")


def _ttr_failures(trials: pd.DataFrame, limit: float) -> Iterator[GateFailure]:
    faulted = trials[has_fault(trials)]
    for (scenario, sut), group in faulted.groupby(["scenario", "sut"], sort=True):
        for row in group[group["time_to_recover_s"].isna()].to_dict("records"):
            yield _failure(row, "time_to_recover_s", "null (never recovered)", f"<= {limit:g} s")
        n = int(group["time_to_recover_s"].notna().sum())
        enough = n >= MIN_P95_SAMPLES
        value = quantile(group["time_to_recover_s"], 0.95 if enough else 1.0)
        if not math.isnan(value) and value > limit:
            subject = ("time_to_recover_s p95" if enough else
                       f"time_to_recover_s max (n = {n} < {MIN_P95_SAMPLES}: no p95)")
            yield GateFailure(str(scenario), str(sut), "", "", subject,
                              f"{value:.3f} s over {n} trials", f"<= {limit:g} s")


def evaluate_gate(trials: pd.DataFrame, limits: GateLimits,
                  known: Mapping[FindingKey, str] | None = None) -> GateResult:
    """Judge the trials frame of :func:`harness.report.load_results` against ``limits``;
    ``known``: (run label, trial id) -> the text of the known finding its run expected it to
    show (:func:`known_findings`)."""
    columns = verdict_columns(trials)
    failures: list[GateFailure] = []
    found: list[KnownFinding] = []
    for row in trials.to_dict("records"):
        broken = list(_verdict_failures(row, columns, limits))
        reason = (known or {}).get(finding_key(row))
        if broken and reason is not None:
            found.append(KnownFinding(_text(row.get("trial_id")), _text(row.get("sut")),
                                      tuple(f"{f.subject} = {f.value}" for f in broken), reason))
        else:
            failures.extend(broken)
        if limits.max_redundant_ratio is not None:
            failures.extend(_ratio_failures(row, limits.max_redundant_ratio))
    if limits.max_ttr_p95 is not None:
        failures.extend(_ttr_failures(trials, limits.max_ttr_p95))
    return GateResult(trials=len(trials), failures=tuple(failures), limits=limits,
                      known=tuple(found))


def known_findings(summaries: Iterable[RunSummary]) -> dict[FindingKey, str]:
    """(run label, trial id) -> finding text, for every trial an expected failure (xfail) of a
    run names."""
    return {(summary.run_id, trial): xfail.reason
            for summary in summaries for xfail in summary.xfails for trial in xfail.trials}


def format_gate(result: GateResult, sources: str = "the results store",
                max_lines: int = MAX_LISTED_FAILURES) -> str:
    """One screen: a verdict line, then one line per failure (at most ``max_lines``)."""
    if result.trials == 0:
        return (f"gate FAILED: no trials in {sources}; an empty store never passes "
                "(did the suite run, and did it write --results to this path?)")
    if result.passed:
        checks = ["every promised verdict true" + (" or unknown" if result.limits.allow_unknown
                                                    else "")]
        if result.limits.max_redundant_ratio is not None:
            checks.append(f"redundant ratio <= {result.limits.max_redundant_ratio:g}")
        if result.limits.max_ttr_p95 is not None:
            checks.append(f"time-to-recover p95 <= {result.limits.max_ttr_p95:g} s")
        if result.known:
            checks[0] = "every promised verdict true" + (
                " or unknown" if result.limits.allow_unknown else "") + (
                f" but {len(result.known)} known finding(s), expected failures of the suite")
        return "\n".join([f"gate passed: {result.trials} trials; " + "; ".join(checks),
                          *(str(k) for k in result.known[:max_lines])])
    lines = [f"gate FAILED: {len(result.failures)} failure(s) in {result.trials} trials "
             f"of {sources}"]
    lines += [str(f) for f in result.failures[:max_lines]]
    lines += [str(k) for k in result.known[:max_lines]]
    if len(result.failures) > max_lines:
        lines.append(f"... and {len(result.failures) - max_lines} more; "
                     "`durabench report` lists every trial that is not valid")
    return "\n".join(lines)
