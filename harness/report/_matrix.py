"""The runtime x fault matrix: what a fault costs on each runtime, on the report's first screen.

One row per SUT (checkpointing-off twins are rows too, so the saving reads down a column), one
column per fault family: the scenario named after the fault (:data:`FAULT_FAMILIES`, in that order;
scenarios built on several faults or on long loops -- crash_sweep, fanout, ... -- have their own
tables further down). Each cell holds, over that scenario's trials of that SUT:

- the median redundant tokens and the median redundant dollars;
- time to recover p50 and n (the trials it is over); when the fault lasted a while (its median
  window, fault to heal, from the trials' histories, is 1 s or more: a database restart, a
  partition), that window too, so "recover 12 s" reads against "fault lasted 11.5 s": a runtime
  that needs its store to go on cannot recover before the store is back;
- a verdict mark: ``ok`` every promised verdict true; ``FALSE: <property>`` / ``UNKNOWN:
  <property>`` naming what broke; ``known finding seen`` when one of the cell's trials was an
  expected failure of this run (a SUT's known finding); ``not promised`` when the SUT promises
  none of the properties judged.

Like with like: when the SUTs of a column ran different cases (a scenario with cases only some
runtimes can take part in), each cell's figures are over the cases every row of that column ran
(trigger, fault parameters, seed and takeover: a ``supervised`` hand-over counts as ``standby``,
the policy the scenario asked for), and the column's header carries a ``*``; when no case was
run by every row, each cell is over its own trials and the header carries a ``†`` (not like
with like). The verdict mark is always over all of the cell's trials.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from harness.report._display import DisplayTable, seconds, tokens, usd
from harness.report._store import FindingKey, finding_key
from harness.report._tables import has_fault, quantile, sut_label, verdict_columns

__all__ = ["FAULT_FAMILIES", "WINDOW_COLUMN", "fault_windows", "matrix_display", "sut_order"]

WINDOW_COLUMN = "fault_window_s"
"""Seconds from the fault to its (last) heal, from each trial's stored history."""
SHOWN_WINDOW_S = 1.0

FAULT_FAMILIES: tuple[str, ...] = (
    "kill", "evict", "oom", "pause", "db_crash", "partition", "degrade", "provider_errors",
)
_SAME_TAKEOVER = {"supervised": "standby"}


def sut_order(suts: Iterable[str], checkpointing: Mapping[str, bool]) -> list[str]:
    """Checkpointing SUTs first (``reference`` leading), then the off ones (``plain`` last)."""
    def key(sut: str) -> tuple[bool, bool, bool, str]:
        return (not checkpointing.get(sut, True), not sut.startswith("reference"),
                sut == "plain", sut)
    return sorted(set(suts), key=key)


def _case_key(row: Mapping[Any, Any]) -> tuple[str, ...]:
    recovery = str(row.get("recovery") or "")
    return (str(row.get("trigger") or ""), str(row.get("fault_params") or ""),
            str(row.get("seed")), _SAME_TAKEOVER.get(recovery, recovery))


def _common_cases(group: pd.DataFrame) -> set[tuple[str, ...]] | None:
    """The cases every SUT of ``group`` ran; None when they all ran the same ones."""
    per_sut = [{_case_key(r) for r in part.to_dict("records")}
               for _, part in group.groupby("sut", sort=True)]
    if not per_sut:
        return None
    common = set.intersection(*per_sut)
    return None if all(cases == common for cases in per_sut) else common


def _header(family: str, common: set[tuple[str, ...]] | None) -> str:
    if common is None:
        return family
    return f"{family} *" if common else f"{family} †"


def _verdict_mark(cell: pd.DataFrame, expected: frozenset[FindingKey]) -> str:
    columns = verdict_columns(cell)
    broken: dict[str, int] = {}
    promised = False
    for row in cell.to_dict("records"):
        if finding_key(row) in expected:
            continue  # judged below, as a known finding
        for column in columns:
            value = row.get(column)
            if isinstance(value, str) and value != "not promised":
                promised = True
                if value in ("false", "unknown"):
                    label = f"{value.upper()}: {column.split('.', 1)[1]}"
                    broken[label] = broken.get(label, 0) + 1
    seen = sum(finding_key(row) in expected for row in cell.to_dict("records"))
    marks = [f"{label} x{n}" for label, n in sorted(broken.items())]
    if seen:
        marks.append(f"known finding seen x{seen}")
    if not marks:
        marks.append("ok" if promised else "not promised")
    return "; ".join(marks)


def fault_windows(histories: Sequence[Mapping[str, Any] | None]) -> list[float]:
    """Per trial, seconds from its fault to its last heal (NaN without a history or a heal)."""
    from harness.history import history_from_json  # lazily: a store's rows need no history

    windows = []
    for raw in histories:
        history = None if raw is None else history_from_json(raw)
        fired = None if history is None else history.fault_at_ns
        healed = None if history is None else history.healed_ns
        windows.append(math.nan if fired is None or healed is None or healed < fired
                       else (healed - fired) / 1e9)
    return windows


def _window(figures: pd.DataFrame) -> str:
    if WINDOW_COLUMN not in figures.columns:
        return ""
    window = quantile(figures[WINDOW_COLUMN], 0.5)
    return "" if math.isnan(window) or window < SHOWN_WINDOW_S else f"fault lasted {window:.1f} s"


def _cell(cell: pd.DataFrame, figures: pd.DataFrame, expected: frozenset[FindingKey]) -> str:
    ttr = quantile(figures["time_to_recover_s"], 0.5)
    never = int(figures["time_to_recover_s"].isna().sum())
    lines = [
        f"{tokens(quantile(figures['redundant_tokens'], 0.5))} tok · "
        f"{usd(quantile(figures['redundant_cost_usd'], 0.5))}",
        f"recover {seconds(ttr) if not math.isnan(ttr) else 'n/a'}, n={len(figures)}"
        + (f" ({never} never)" if never else ""),
        _window(figures),
        _verdict_mark(cell, expected),
    ]
    return "\n".join(line for line in lines if line)


def matrix_display(trials: pd.DataFrame, expected_failures: Iterable[FindingKey] = ()
                   ) -> DisplayTable | None:
    """The matrix (module docstring); ``expected_failures``: the (run label, trial id) of each
    known finding its run expected (:func:`harness.report.known_findings`). None when no
    trial of a fault-family scenario is in the results."""
    faulted = trials[has_fault(trials) & trials["scenario"].isin(FAULT_FAMILIES)]
    if faulted.empty:
        return None
    expected = frozenset(expected_failures)
    families = [f for f in FAULT_FAMILIES if f in set(faulted["scenario"])]
    modes = {str(s): bool(c) for s, c in zip(faulted["sut"], faulted["checkpointing"],
                                             strict=True)}
    suts = sut_order(modes, modes)
    headers = ["SUT"]
    columns: dict[str, tuple[pd.DataFrame, set[tuple[str, ...]] | None]] = {}
    for family in families:
        group = faulted[faulted["scenario"] == family]
        common = _common_cases(group)
        columns[family] = (group, common)
        headers.append(_header(family, common))
    rows = []
    for sut in suts:
        mode = "off" if not modes[sut] else (
            "on + resumable calls" if sut.endswith("-resume") else "on")
        row = [f"{sut_label(sut, faulted)} ({mode})"]
        for family in families:
            group, common = columns[family]
            cell = group[group["sut"] == sut]
            if cell.empty:
                row.append("did not run")
                continue
            keep = [not common or _case_key(r) in common for r in cell.to_dict("records")]
            row.append(_cell(cell, cell[keep], expected))
        rows.append(tuple(row))
    return DisplayTable(
        "What a fault costs, per runtime", tuple(headers), tuple(rows),
        "Each cell: median redundant tokens / dollars of a trial; time to recover p50 over n "
        "trials; how long the fault lasted (median, fault to heal) when 1 s or more: a runtime "
        "that needs its store to go on recovers only after it is back; the verdicts (ok: "
        "every promised verdict true). (on)/(off): checkpointing; "
        "(on + resumable calls): checkpointing, and the LLM call in flight is retrieved, not "
        "paid again. "
        "Columns are the scenarios named after one fault; *: figures over the cases every runtime "
        "of the column ran (verdicts over all); †: the runtimes ran different cases, so the column "
        "does not compare like with like. Other scenarios are in the tables below.")
