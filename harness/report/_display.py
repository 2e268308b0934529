"""Tables as text: the numbers of ``_tables`` formatted for people, shared by HTML and Markdown.

A :class:`DisplayTable` holds only strings, so both renderers show exactly the same cells.
Missing values show as ``n/a``; seconds carry their unit; ratios read "x3.2" (how many times more
without checkpointing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.report._store import LoadIssue
from harness.report._tables import MIN_P95_SAMPLES, savings_table, summary_table, verdict_table
from harness.run_plan import ExpectedFailure

MAX_LISTED_TRIALS = 50


@dataclass(frozen=True)
class DisplayTable:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def tokens(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):,.0f}"


def usd(value: Any) -> str:
    return "n/a" if _missing(value) else f"${float(value):.4f}"


def seconds(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):.2f} s"


def _count(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):g}"


def ratio(value: Any) -> str:
    return "n/a" if _missing(value) else f"x{float(value):.1f}"


def percent(value: Any) -> str:
    return "n/a" if _missing(value) else f"{float(value):.0%}"


def _pair(off: Any, on: Any, fmt: Any) -> str:
    return f"{fmt(off)} -> {fmt(on)}"


def _spread(row: Mapping[Any, Any], figure: str, fmt: Any) -> str:
    """"p50 / p95"; the p95 reads "n<20" when too few trials had the figure."""
    p50, p95 = row[f"{figure}_p50"], row[f"{figure}_p95"]
    tail = f"n<{MIN_P95_SAMPLES}" if _missing(p95) and not _missing(p50) else fmt(p95)
    return f"{fmt(p50)} / {tail}"


MIN_COMPARED = 5
"""Fewer trials than this on either side of a comparison: the figures and n, no percentage or
ratio (one trial against one is no "cut 74%")."""


def _compared(r: Mapping[Any, Any], value: str) -> str:
    small = min(int(r["trials_ckpt"]), int(r["trials_nockpt"])) < MIN_COMPARED
    return f"n<{MIN_COMPARED}" if small and value != "n/a" else value


def savings_display(trials: pd.DataFrame) -> DisplayTable:
    rows = []
    for r in savings_table(trials).to_dict("records"):
        rows.append((
            str(r["scenario"]), f"{r['nockpt_sut']} -> {r['ckpt_sut']}", str(r["env"]),
            f"{r['trials_nockpt']} / {r['trials_ckpt']}",
            _pair(r["redundant_tokens_p50_nockpt"], r["redundant_tokens_p50_ckpt"], tokens),
            _compared(r, percent(r["redundant_tokens_cut"])),
            _compared(r, ratio(r["redundant_tokens_ratio"])),
            _pair(r["redundant_cost_usd_p50_nockpt"], r["redundant_cost_usd_p50_ckpt"], usd),
            _pair(r["time_to_recover_s_p50_nockpt"], r["time_to_recover_s_p50_ckpt"], seconds),
            _compared(r, ratio(r["time_to_recover_ratio"])),
            _pair(r["completion_delay_s_p50_nockpt"], r["completion_delay_s_p50_ckpt"], seconds),
        ))
    return DisplayTable(
        "What checkpointing saved",
        ("scenario", "SUT off -> on", "env", "trials off / on", "redundant tokens p50",
         "tokens cut", "off / on", "redundant cost p50", "time to recover p50", "off / on",
         "completion delay p50"),
        tuple(rows),
        "Medians over the trials with a fault; each cell reads checkpointing off -> on. "
        f"Cuts and ratios only where both sides have at least {MIN_COMPARED} trials (else "
        f"'n<{MIN_COMPARED}': read the figures and n). Scenarios where only one mode ran have "
        "no row.",
    )


def summary_display(trials: pd.DataFrame) -> DisplayTable:
    rows = []
    for r in summary_table(trials).to_dict("records"):
        rows.append((
            str(r["scenario"]), str(r["sut"]), str(r["sut_version"]), str(r["env"]),
            str(r["toxiproxy"]),
            "on" if r["checkpointing"] else "off",
            str(r["trials"]),
            f"{r['valid_true']} / {r['valid_false']} / {r['valid_unknown']}",
            f"{r['verdicts_true']} / {r['verdicts_false']} / {r['verdicts_unknown']}"
            f" / {r['verdicts_not_promised']}",
            _spread(r, "redundant_tokens", tokens),
            _spread(r, "redundant_cost_usd", usd),
            _spread(r, "time_to_resume_s", seconds),
            _spread(r, "time_to_recover_s", seconds),
            str(r["never_recovered"]), seconds(r["completion_delay_s_p50"]),
            _count(r["redundant_tool_calls_p50"]),
        ))
    return DisplayTable(
        "Per scenario, SUT and environment",
        ("scenario", "SUT", "release", "env", "Toxiproxy", "checkpointing", "trials",
         "valid true / false / unknown",
         "verdicts true / false / unknown / not promised", "redundant tokens p50 / p95",
         "redundant cost p50 / p95", "time to resume p50 / p95", "time to recover p50 / p95",
         "never recovered", "completion delay p50", "redundant tool calls p50"),
        tuple(rows),
        f"p50 and p95 over seeds and triggers (linear interpolation); p95 only over at least "
        f"{MIN_P95_SAMPLES} trials; null figures are left out; "
        "'never recovered' counts trials with a fault and no time to recover; redundant tool "
        "calls are tool executions beyond the golden run's (n/a where unrecorded).",
    )


def verdicts_display(trials: pd.DataFrame) -> DisplayTable:
    table = verdict_table(trials)
    rows = tuple(tuple(str(v) for v in row) for row in table.itertuples(index=False))
    return DisplayTable(
        "Verdicts per property", tuple(str(c) for c in table.columns), rows,
        "'not promised' is neither pass nor fail: the SUT does not claim the property.",
    )


KNOWN_FINDINGS = "Known findings"


def expected_by_case(trials: pd.DataFrame, seen: Sequence[ExpectedFailure]
                     ) -> dict[tuple[str, str], list[str]]:
    """(SUT, scenario) -> ids of this run's trials that were expected failures (known findings),
    found through the trial ids each expected failure recorded."""
    where = {str(r["trial_id"]): (str(r["sut"]), str(r["scenario"]))
             for r in trials[["trial_id", "sut", "scenario"]].to_dict("records")}
    found: dict[tuple[str, str], list[str]] = {}
    for failure in seen:
        for trial in failure.trials:
            if trial in where:
                found.setdefault(where[trial], []).append(trial)
    return found


def _observed(name: str, case: str,
              seen: Mapping[tuple[str, str], Sequence[str]] | None) -> str:
    if seen is None:
        return "not recorded (this store's runs predate it)"
    trials = seen.get((name, case.split("::", 1)[0]), ())
    return f"seen: {', '.join(dict.fromkeys(trials))}" if trials else "not seen in this run"


def known_findings_display(trials: pd.DataFrame,
                           seen: Sequence[ExpectedFailure] | None = None) -> DisplayTable | None:
    """Each SUT's known findings (its description's ``known_findings``: a breach of a promise
    or an expectation it knowingly does not meet, with the reason), for the SUTs in the results
    that are registered here, and whether this run saw each (``seen``: the run's expected
    failures; None when its run lines did not record them); None when there is none. Scenarios
    show these as xfails, so the suite stays green while the finding stays visible."""
    from harness.sut import get_sut, parse_sut_spec  # lazily: reading needs no SUT installed

    by_case = None if seen is None else expected_by_case(trials, seen)
    rows = []
    for name in sorted({str(s) for s in trials.get("sut", pd.Series(dtype=str)).dropna()}):
        try:  # a pinned SUT's findings are its adapter's: describe it without installing it
            findings = get_sut(parse_sut_spec(name).name).describe().known_findings
        except Exception:  # not registered here, or it cannot describe itself: nothing to show
            continue
        rows += [(name, case, _observed(name, case, by_case), why)
                 for case, why in sorted(findings.items())]
    if not rows:
        return None
    return DisplayTable(KNOWN_FINDINGS, ("SUT", "scenario / case", "in this run", "finding"),
                        tuple(rows), "From each SUT's own description (`durabench suts`); "
                        "'in this run' from the run's expected failures (xfails).")


def _failing_properties(row: Mapping[Any, Any]) -> str:
    bad = [f"{k.removeprefix('verdict.')}={v}" for k, v in row.items()
           if k.startswith("verdict.") and v in ("false", "unknown")]
    return ", ".join(bad) or str(row.get("verdict_summary") or "")


def invalid_trials_display(trials: pd.DataFrame) -> DisplayTable:
    bad = trials[trials["valid"] != "true"]
    rows = tuple(
        (str(r["trial_id"]), str(r["scenario"]), str(r["sut"]), str(r["trigger"]),
         str(r["seed"]), str(r["valid"]), _failing_properties(r))
        for r in bad.head(MAX_LISTED_TRIALS).to_dict("records")
    )
    note = "" if len(bad) <= MAX_LISTED_TRIALS else (
        f"First {MAX_LISTED_TRIALS} of {len(bad)}; trials.csv lists them all.")
    return DisplayTable(
        "Trials that are not valid",
        ("trial", "scenario", "SUT", "trigger", "seed", "valid", "verdicts"), rows, note)


def issues_display(issues: Sequence[LoadIssue],
                   title: str = "Problems reading the results") -> DisplayTable:
    rows = tuple((f"{i.source}:{i.line}", i.level, i.message) for i in issues)
    return DisplayTable(title, ("where", "level", "problem"), rows,
                        "These lines were left out of every table and chart.")
