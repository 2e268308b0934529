"""Money a team can plan with: what a crash costs against how far the loop had got, and per month.

Reads the crash-sweep trials of a results store: trials with a fault and a ``crash_fraction``
(``scenarios/test_crash_sweep.py``). Three parts, each None when there is nothing to show:

1. :func:`money_chart` -- the headline chart: dollars wasted per crash (``redundant_cost_usd``,
   median over seeds) against the share of the loop done at the crash, one line per SUT, each
   with its own colour and marker (:mod:`harness.report._styles`; checkpointing-off SUTs dashed).
   Runtimes that waste the same lie on one line: each is nudged sideways by a fraction of a
   point so every marker shows, and the legend sits beside the plot, never on the data.
   A ``-resume`` SUT (checkpointing + resumable LLM calls) is dash-dotted.
2. :func:`time_table` -- time compression made visible: every duration of the sweep as measured,
   x ``time_scale`` (the workload params' scale), and calibrated. Runtime overhead (round trips,
   process starts) is not compressed, so on a loaded machine a run takes longer than its compressed
   waits and "x scale" overstates it; the **calibrated** equivalent maps the measured golden run
   onto the real-time length the workload stands for (its own estimate from its real-time speeds,
   ``harness.workloads.nominal_real_time_s``): effective scale = nominal real length / measured
   golden duration. The projection uses the calibrated figures.
3. :func:`projection_table` -- per SUT, the measured per-crash waste turned into dollars and
   agent-hours per month for ``failures_per_hour`` and ``runs_per_day`` (formula in
   :data:`FORMULA`, shown next to the table).

Defaults of the projection (:class:`Projection`): one failure per 24 hours of running, the
preemption every Google Cloud preemptible VM undergoes at the latest ("Preemptible VMs always stop
after 24 hours", :data:`FAILURE_RATE_SOURCE`); 100 runs a day is an assumption, not a measurement:
set your own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report._charts import Chart, figure
from harness.report._display import DisplayTable, usd
from harness.report._styles import LineStyle, runtime_styles
from harness.report._tables import has_fault
from harness.workloads import nominal_real_time_s

DAYS_PER_MONTH = 365.25 / 12
FAILURE_RATE_SOURCE = "https://docs.cloud.google.com/compute/docs/instances/create-use-preemptible"
DEFAULT_FAILURES_PER_HOUR = 1 / 24
DEFAULT_RUNS_PER_DAY = 100.0
FORMULA = (
    "crashes/month = F x T x N x 30.44, with F failures per hour of running, T the real-time "
    "length of one run in hours (what the workload stands for) and N runs per day; "
    "$/month = crashes/month x mean $ wasted per crash over the sweep's evenly spaced crash "
    "points (which stand for a crash at a uniformly random moment); agent-hours lost/month = "
    "crashes/month x mean work redone per crash ((time to recover - time to resume) x the "
    "effective scale, T / measured golden duration). Without crashes the same runs cost "
    "N x 30.44 x golden $ a month."
)
_NUDGE_PCT = 1.0
"""Sideways step between runtimes on the money chart, in % of the loop (the points are 10 apart)."""


@dataclass(frozen=True)
class Projection:
    """How often things fail and how much runs, for the monthly projection."""

    failures_per_hour: float = DEFAULT_FAILURES_PER_HOUR
    runs_per_day: float = DEFAULT_RUNS_PER_DAY

    def __post_init__(self) -> None:
        if not (self.failures_per_hour >= 0 and self.runs_per_day >= 0):
            raise ValueError("failures per hour and runs per day must be >= 0")


def _param(raw: Any, name: str, default: float) -> float:
    try:
        value = json.loads(raw).get(name, default) if isinstance(raw, str) else default
        return float(value)
    except (ValueError, TypeError, AttributeError):
        return default


def _nominal_s(workload: Any, raw: Any) -> float:
    try:
        params = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return math.nan
    nominal = nominal_real_time_s(str(workload), params) if isinstance(params, dict) else None
    return math.nan if nominal is None else nominal


def sweep_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The crash-sweep trials, with ``time_scale``, ``nominal_s`` (real-time length the run
    stands for), ``effective_scale``, ``model``, ``pct_done`` and ``redone_s`` columns."""
    if "crash_fraction" not in trials.columns or trials.empty:
        return trials.iloc[0:0]
    frame = trials[has_fault(trials) & pd.to_numeric(trials["crash_fraction"],
                                                     errors="coerce").notna()].copy()
    params = frame["workload_params"] if "workload_params" in frame else pd.Series(dtype=object)
    frame["time_scale"] = [_param(p, "time_scale", 1.0) for p in params]
    frame["model"] = [json.loads(p).get("model", "?") if isinstance(p, str) else "?"
                      for p in params]
    nominal = [_nominal_s(w, p) for w, p in zip(frame["workload"], params, strict=True)]
    frame["nominal_s"] = pd.Series(nominal, index=frame.index, dtype="float64").fillna(
        frame["golden_duration_s"] * frame["time_scale"])
    frame["effective_scale"] = frame["nominal_s"] / frame["golden_duration_s"]
    frame["pct_done"] = pd.to_numeric(frame["crash_fraction"]) * 100
    frame["redone_s"] = (frame["time_to_recover_s"] - frame["time_to_resume_s"]).clip(lower=0)
    return frame


RESUME_SUFFIX = "-resume"
"""A SUT named ``<runtime>-resume`` is ``<runtime>`` with resumable LLM calls (the third mode)."""


def _mode_name(sut: str, checkpointing: bool) -> str:
    """checkpointing "off", "on", or "on + resumable calls" (a ``-resume`` SUT)."""
    if not checkpointing:
        return "off"
    return "on + resumable calls" if sut.endswith(RESUME_SUFFIX) else "on"


def _mode(sut: str, part: pd.DataFrame) -> str:
    return _mode_name(sut, bool(part["checkpointing"].iloc[0]))


def _minutes_axis(ax: Any, frame: pd.DataFrame) -> None:
    """A top axis in real-time minutes into the run (golden duration x time scale)."""
    run_min = float(frame["nominal_s"].median()) / 60
    if math.isnan(run_min) or run_min <= 0:
        return
    top = ax.secondary_xaxis("top", functions=(lambda pct: pct * run_min / 100,
                                               lambda minutes: minutes * 100 / run_min))
    top.set_xlabel(f"real-time minutes into the ~{run_min:.0f}-minute run it stands for",
                   fontsize=8)


def _label_ends(ax: Any, ends: list[float]) -> None:
    """The dollars at the last crash point, right of the plot; values closer than 4% of the
    largest share one label, so labels never overlap."""
    labelled: list[float] = []
    gap = 0.04 * max(ends, default=0.0)
    for value in sorted(ends, reverse=True):
        if all(abs(value - other) > gap for other in labelled):
            labelled.append(value)
            ax.annotate(f"${value:.2f}", (100, value), textcoords="offset points", xytext=(4, 0),
                        fontsize=9, va="center", annotation_clip=False)


def _draw_lines(ax: Any, frame: pd.DataFrame, styles: dict[str, LineStyle],
                modes: dict[str, bool]) -> list[float]:
    """One line per SUT of ``styles``; returns each line's last value."""
    ends: list[float] = []
    for i, (sut, style) in enumerate(styles.items()):
        part = frame[frame["sut"] == sut]
        medians = part.groupby("pct_done")["redundant_cost_usd"].median().sort_index()
        nudge = (i - (len(styles) - 1) / 2) * _NUDGE_PCT
        ax.plot(medians.index + nudge, medians.to_numpy(), linestyle=style.linestyle,
                marker=style.marker, color=style.colour, markersize=6, linewidth=1.6,
                markerfacecolor="white" if not modes[sut] else style.colour,
                label=f"{sut} (checkpointing {_mode_name(sut, modes[sut])})")
        if len(medians):
            ends.append(float(medians.iloc[-1]))
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_xlabel("% of the loop done at the crash")
    return ends


def money_chart(trials: pd.DataFrame, out_dir: Path) -> Chart | None:
    """Dollars wasted per crash against % of the loop done, one line per SUT. Left: every
    runtime; right (when both modes ran): the checkpointing runtimes alone, on their own scale,
    so lines crushed at the bottom of the left panel can be told apart."""
    frame = sweep_trials(trials)
    if frame.empty or frame["redundant_cost_usd"].notna().sum() == 0:
        return None
    modes = {str(s): bool(c) for s, c in zip(frame["sut"], frame["checkpointing"], strict=True)}
    styles = runtime_styles(modes, modes)
    zoom = {s: st for s, st in styles.items() if modes[s]}
    panels = 2 if zoom and len(zoom) < len(styles) else 1
    filename = "waste_per_crash_usd.png"
    with figure(figsize=(12.5, 6.2), dpi=100) as fig:
        grid = fig.add_gridspec(1, panels, width_ratios=[3, 2][:panels])
        ax = fig.add_subplot(grid[0, 0])
        _label_ends(ax, _draw_lines(ax, frame, styles, modes))
        ax.set_ylabel("$ wasted per crash (re-billed tokens)")
        _minutes_axis(ax, frame)
        models = ", ".join(sorted(frame["model"].astype(str).unique()))
        ax.set_title(f"Every runtime ({models})")
        if panels == 2:
            right = fig.add_subplot(grid[0, 1])
            _label_ends(right, _draw_lines(right, frame[frame["sut"].isin(zoom)], zoom, modes))
            right.set_title("Checkpointing on only (its own $ scale)")
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
        fig.suptitle("What a crash costs, by how far the loop had got", fontsize=12)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.savefig(out_dir / filename)
    return Chart(filename, "Dollars wasted per crash",
                 "Each point is the median over seeds of the dollars re-billed because of one "
                 "crash (the same run's ledger minus its golden run, input and output tokens "
                 "priced separately at the model's list price). Without checkpointing a crash "
                 "re-bills every step done so far, and each step's prompt carries the whole "
                 "conversation, so the cost grows faster than the loop; with checkpointing it "
                 "stays at the step in flight. Runtimes that waste the same overlap: each is "
                 "nudged sideways a little and has its own marker; hollow markers and dashes: "
                 "checkpointing off; dash-dotted: checkpointing with resumable calls (a -resume "
                 "SUT: its step in flight is retrieved from the provider, not paid again).")


def _minutes(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds / 60:,.1f} min"


def _three(measured: float, scale: float, effective: float) -> str:
    if math.isnan(measured):
        return "n/a"
    return (f"{measured:.2f} s | {_minutes(measured * scale)} | "
            f"{_minutes(measured * effective)}")


def time_table(trials: pd.DataFrame) -> DisplayTable | None:
    """Per SUT: the sweep's durations as measured and as real-time equivalents."""
    frame = sweep_trials(trials)
    if frame.empty:
        return None
    rows = []
    for sut, part in frame.groupby("sut", sort=True):
        scale = float(part["time_scale"].median())
        effective = float(part["effective_scale"].median())
        rows.append((
            str(sut), f"x{scale:g} / x{effective:.0f}", str(len(part)),
            _three(float(part["golden_duration_s"].median()), scale, effective),
            _three(float(part["time_to_resume_s"].median()), scale, effective),
            _three(float(part["time_to_recover_s"].median()), scale, effective),
            _three(float(part["redone_s"].mean()), scale, effective),
            _three(float(part["completion_delay_s"].median()), scale, effective),
        ))
    return DisplayTable(
        "Crash sweep: time as measured | x time scale | calibrated real time",
        ("SUT", "time scale / effective", "crashes", "run (golden)", "time to resume p50",
         "time to recover p50", "work redone per crash (mean)", "completion delay p50"),
        tuple(rows),
        "Every simulated wait (generation, tools) ran time_scale times faster than real. 'x time "
        "scale' multiplies the measured value by it; 'calibrated' by the effective scale, the "
        "real-time length the workload stands for / the measured golden run, which absorbs the "
        "runtime's uncompressed overhead. Restarts and leases are not compressed at all, so real-"
        "time equivalents of time to resume (and of what includes it) overstate that part.")


def _projection_row(sut: str, part: pd.DataFrame, p: Projection) -> tuple[str, ...]:
    run_h = float(part["nominal_s"].median()) / 3600
    crashes = p.failures_per_hour * run_h * p.runs_per_day * DAYS_PER_MONTH
    per_crash = float(part["redundant_cost_usd"].mean())
    lost_h = float(part["redone_s"].mean()) * float(part["effective_scale"].median()) / 3600
    golden_cost = float((part["cost_usd"] - part["redundant_cost_usd"]).median())
    mode = _mode(sut, part)
    return (sut, mode, ", ".join(sorted(part["model"].astype(str).unique())),
            f"{run_h * 60:,.1f} min", f"{crashes:,.1f}", usd(per_crash),
            f"${crashes * per_crash:,.2f}", f"{crashes * lost_h:,.1f} h",
            f"${p.runs_per_day * DAYS_PER_MONTH * golden_cost:,.0f}")


def projection_table(trials: pd.DataFrame, projection: Projection) -> DisplayTable | None:
    """Per SUT: crashes, dollars and agent-hours lost per month (see :data:`FORMULA`)."""
    frame = sweep_trials(trials)
    if frame.empty:
        return None
    rows = tuple(_projection_row(str(sut), part, projection)
                 for sut, part in frame.groupby("sut", sort=True))
    return DisplayTable(
        f"Per month at {projection.failures_per_hour:.4g} failures per hour of running and "
        f"{projection.runs_per_day:g} runs per day",
        ("SUT", "checkpointing", "model", "run length (real)", "crashes / month",
         "$ wasted per crash (mean)", "$ wasted / month", "agent-hours lost / month",
         "$ spent / month without crashes"),
        rows,
        f"Formula: {FORMULA} Defaults: F = 1/24 per hour (a Google Cloud preemptible VM always "
        f"stops within 24 hours: {FAILURE_RATE_SOURCE}); N = 100 runs a day is an assumption. "
        "Set yours: durabench report RESULTS --failures-per-hour F --runs-per-day N.")


def money_section(trials: pd.DataFrame, out_dir: Path, projection: Projection | None
                  ) -> tuple[tuple[Chart, ...], tuple[DisplayTable, ...]]:
    """The chart and tables of this module that have something to show."""
    chart = money_chart(trials, out_dir)
    tables = [t for t in (projection_table(trials, projection or Projection()),
                          time_table(trials)) if t is not None]
    return (() if chart is None else (chart,)), tuple(tables)
