"""The report's numbers: per scenario x SUT summaries, verdict counts, checkpointing savings.

All functions take the trials frame of :func:`harness.report.load_results` and return new frames;
nothing is mutated. Percentiles are pandas' linear-interpolation quantiles over the trials that
have the figure (nulls are left out and counted where it matters, e.g. ``never_recovered``).

A trial "has a fault" when its ``fault`` is set and not ``"none"``. Savings pair a checkpointing-on
SUT with its checkpointing-off **twin** as its results lines name it (``twin``, from the SUT
protocol; schema-1 lines get ``X-nockpt`` by the old naming convention when read), within one
scenario and environment. p95 is shown only over at least :data:`MIN_P95_SAMPLES` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from harness.history import PROPERTIES
from harness.report._store import VERDICT_PREFIX

NOCKPT_SUFFIX = "-nockpt"
MIN_P95_SAMPLES = 20
"""Fewer values than this give no p95 (NaN; the display says "n<20"): a p95 of a handful of
runs is their maximum, not a tail."""
VERDICT_COUNTED: tuple[str, ...] = ("true", "false", "unknown", "not promised")
_SPREAD_FIGURES = (
    "redundant_tokens", "redundant_cost_usd", "time_to_resume_s", "time_to_recover_s",
)

SUMMARY_COLUMNS: tuple[str, ...] = (
    "scenario", "sut", "sut_version", "env", "toxiproxy", "checkpointing", "trials",
    "valid_true", "valid_false", "valid_unknown",
    "verdicts_true", "verdicts_false", "verdicts_unknown", "verdicts_not_promised",
    *(f"{f}_{q}" for f in _SPREAD_FIGURES for q in ("p50", "p95")),
    "never_recovered", "completion_delay_s_p50", "redundant_tool_calls_p50",
)
_PAIRED = ("redundant_tokens", "redundant_cost_usd", "time_to_recover_s", "completion_delay_s")
SAVINGS_COLUMNS: tuple[str, ...] = (
    "scenario", "runtime", "env", "ckpt_sut", "nockpt_sut", "trials_ckpt", "trials_nockpt",
    *(f"{f}_p50_{mode}" for f in _PAIRED for mode in ("ckpt", "nockpt")),
    "redundant_tokens_cut", "redundant_tokens_ratio", "time_to_recover_ratio",
)


def _by_environment(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with an ``env`` to group by (``local`` where a line did not say), so one report
    compares environments instead of mixing them."""
    env = trials["env"] if "env" in trials.columns else pd.Series("local", index=trials.index)
    return trials.assign(env=env.fillna("local").astype(str))


def has_fault(trials: pd.DataFrame) -> pd.Series:
    """Boolean mask of the trials that ran with a fault."""
    fault = trials["fault"]
    return fault.notna() & ~fault.astype("string").str.lower().isin(["", "none"])


def quantile(values: pd.Series, q: float) -> float:
    """The q-quantile of the non-null values; NaN when there are none."""
    present = pd.to_numeric(values, errors="coerce").dropna()
    return float(present.quantile(q)) if len(present) else math.nan


def p95(values: pd.Series) -> float:
    """The 0.95-quantile when there are at least MIN_P95_SAMPLES values, else NaN."""
    present = pd.to_numeric(values, errors="coerce").dropna()
    return quantile(present, 0.95) if len(present) >= MIN_P95_SAMPLES else math.nan


def verdict_columns(trials: pd.DataFrame) -> list[str]:
    return [c for c in trials.columns if c.startswith(VERDICT_PREFIX)]


def _distinct(group: pd.DataFrame, column: str) -> str:
    """The distinct values of a text column, e.g. which Toxiproxy served the trials."""
    if column not in group.columns:
        return "-"
    return ", ".join(sorted({str(v) for v in group[column].dropna() if str(v)})) or "-"


def sut_label(sut: str, group: pd.DataFrame) -> str:
    """``sut`` with the release(s) its trials ran (``dbos 3.4.0``) when the name does not already
    carry the pin (``dbos==3.2.0``)."""
    version = _distinct(group[group["sut"] == sut], "sut_version")
    return sut if "==" in sut or version == "-" else f"{sut} {version}"


def _summary_row(scenario: str, sut: str, env: str, group: pd.DataFrame) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": scenario, "sut": sut, "sut_version": _distinct(group, "sut_version"),
        "env": env, "toxiproxy": _distinct(group, "toxiproxy"),
        "checkpointing": bool(group["checkpointing"].iloc[0]),
        "trials": len(group),
    }
    for value in ("true", "false", "unknown"):
        row[f"valid_{value}"] = int((group["valid"] == value).sum())
    cells = group[verdict_columns(group)].to_numpy().ravel().tolist()
    for value in VERDICT_COUNTED:
        row[f"verdicts_{value.replace(' ', '_')}"] = sum(1 for c in cells if c == value)
    for figure in _SPREAD_FIGURES:
        row[f"{figure}_p50"] = quantile(group[figure], 0.5)
        row[f"{figure}_p95"] = p95(group[figure])
    faulted = group[has_fault(group)]
    row["never_recovered"] = int(faulted["time_to_recover_s"].isna().sum())
    row["completion_delay_s_p50"] = quantile(group["completion_delay_s"], 0.5)
    tools = group["redundant_tool_calls"] if "redundant_tool_calls" in group.columns else None
    row["redundant_tool_calls_p50"] = math.nan if tools is None else quantile(tools, 0.5)
    return row


def summary_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, SUT, environment): counts, verdict tallies, medians and p95s."""
    rows = [
        _summary_row(str(scenario), str(sut), str(env), group)
        for (scenario, sut, env), group in _by_environment(trials).groupby(
            ["scenario", "sut", "env"], sort=True)
    ]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _verdict_cell(values: Iterable[Any]) -> str:
    present = [v for v in values if isinstance(v, str)]
    if not present:
        return "-"
    promised = [v for v in present if v != "not promised"]
    if not promised:
        return "not promised"
    parts = [f"{promised.count(v)} {v}" for v in ("true", "false", "unknown") if promised.count(v)]
    if len(promised) < len(present):
        parts.append(f"{len(present) - len(promised)} not promised")
    return ", ".join(parts)


def verdict_table(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, SUT, environment), one column per property: ``"17 true, 1 false"``."""
    columns = verdict_columns(trials)
    names = [c.removeprefix(VERDICT_PREFIX) for c in columns]
    rows = []
    for (scenario, sut, env), group in _by_environment(trials).groupby(
            ["scenario", "sut", "env"], sort=True):
        row = {"scenario": scenario, "sut": sut, "env": env}
        row.update({n: _verdict_cell(group[c]) for n, c in zip(names, columns, strict=True)})
        rows.append(row)
    ordered = [p for p in PROPERTIES if p in names] + [n for n in names if n not in PROPERTIES]
    return pd.DataFrame(rows, columns=["scenario", "sut", "env", *ordered])


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def _savings_row(
    scenario: str, runtime: str, on: pd.DataFrame, off: pd.DataFrame
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": scenario, "runtime": runtime,
        "ckpt_sut": ", ".join(sorted(on["sut"].unique())),
        "nockpt_sut": ", ".join(sorted(off["sut"].unique())),
        "trials_ckpt": len(on), "trials_nockpt": len(off),
    }
    for figure in _PAIRED:
        row[f"{figure}_p50_ckpt"] = quantile(on[figure], 0.5)
        row[f"{figure}_p50_nockpt"] = quantile(off[figure], 0.5)
    tokens_on, tokens_off = row["redundant_tokens_p50_ckpt"], row["redundant_tokens_p50_nockpt"]
    row["redundant_tokens_cut"] = 1 - _ratio(tokens_on, tokens_off)
    row["redundant_tokens_ratio"] = _ratio(tokens_off, tokens_on)
    row["time_to_recover_ratio"] = _ratio(
        row["time_to_recover_s_p50_nockpt"], row["time_to_recover_s_p50_ckpt"])
    return row


def savings_table(trials: pd.DataFrame) -> pd.DataFrame:
    """What checkpointing saved, per scenario and runtime, over the trials with a fault.

    ``redundant_tokens_cut`` = 1 - ckpt median / nockpt median; ``redundant_tokens_ratio`` =
    nockpt median / ckpt median (NaN when the ckpt median is 0); ``time_to_recover_ratio`` =
    nockpt p50 / ckpt p50. Only scenarios where both modes ran get a row.
    """
    faulted = _by_environment(trials[has_fault(trials)])
    if "twin" not in faulted.columns:
        faulted = faulted.assign(twin=None)
    rows = []
    for (scenario, env), group in faulted.groupby(["scenario", "env"], sort=True):
        on_all = group[group["checkpointing"]]
        for (sut, twin), on in on_all.groupby(["sut", on_all["twin"].fillna("")], sort=True):
            off = group[(group["sut"] == twin) & ~group["checkpointing"]]
            if twin and len(off):
                rows.append({**_savings_row(str(scenario), str(sut), on, off), "env": str(env)})
    return pd.DataFrame(rows, columns=list(SAVINGS_COLUMNS))
