"""The timeline of one representative trial: the picture that shows how recovery works.

Drawn from the trial's stored history only: LLM calls as bars from received to responded on the
row of their logical step (delivered solid, lost hatched), step records as markers, each fault's
window shaded from its fault_fired to its fault_healed (a trial with follow-up faults has one
window per fault, labelled with its number and name), worker starts and exits as vertical marks, the
frontier as a horizontal line and the recovery point (fault_at + time_to_recover) as a dashed line.

The representative trial is picked deterministically: trials are ordered by scenario, SUT,
trigger, recovery, seed, trial id; the first kill at ``mid_step_late`` with checkpointing wins,
else the first trial with a fault, else the first trial with a history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.history import History, history_from_json
from harness.report._charts import DPI, Chart, figure
from harness.report._tables import has_fault

_SORT = ["scenario", "sut", "trigger", "recovery", "seed", "trial_id"]
_ATTEMPT_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b")
_LOST = "#d62728"


def pick_representative(
    trials: pd.DataFrame, histories: Sequence[Mapping[str, Any] | None]
) -> int | None:
    """Row index of the trial whose timeline the report shows; None when none has a history."""
    with_history = trials[[histories[i] is not None for i in range(len(trials))]]
    if with_history.empty:
        return None
    ordered = with_history.sort_values(_SORT, kind="stable", na_position="last")
    preferred = ordered[
        (ordered["fault"] == "kill") & (ordered["trigger"] == "mid_step_late")
        & ordered["checkpointing"]
    ]
    for candidates in (preferred, ordered[has_fault(ordered)], ordered):
        if not candidates.empty:
            return int(candidates.index[0])
    return None


def _seconds(ns: int, origin: int) -> float:
    return (ns - origin) / 1e9


def _draw_calls(ax: Any, history: History, origin: int) -> None:
    end = history.ended_ns or max(e.received_ns for e in history.ledger)
    for entry in history.trial_ledger():
        if entry.step is None:
            continue
        left = _seconds(entry.received_ns, origin)
        width = _seconds(entry.responded_ns or end, origin) - left
        color = _ATTEMPT_COLORS[((entry.attempt or 1) - 1) % len(_ATTEMPT_COLORS)]
        if entry.delivered:
            ax.barh(entry.step, width, left=left, height=0.55, color=color, alpha=0.85)
        else:
            ax.barh(entry.step, width, left=left, height=0.55, facecolor="white",
                    edgecolor=_LOST, hatch="///", linewidth=1.2)
    steps = [s for s in history.steps if s.step is not None]
    if steps:
        ax.scatter([_seconds(s.recorded_ns, origin) for s in steps], [s.step for s in steps],
                   marker="D", s=22, color="black", zorder=4)


@dataclass(frozen=True)
class FaultWindow:
    """One fault of a trial on the timeline: from its ``fault_fired`` to its ``fault_healed``
    (the end of the trial when it has none)."""

    index: int
    fault: str
    fired_ns: int
    healed_ns: int


def fault_windows(history: History) -> list[FaultWindow]:
    """Each fault's window, in the order of its index. Events are paired by their ``index``
    detail; a history from before follow-up faults (no index) pairs them in the order they
    happened."""
    def by_index(kind: str) -> dict[int, Any]:
        events = sorted((e for e in history.events if e.kind == kind), key=lambda e: e.at_ns)
        found: dict[int, Any] = {}
        for n, event in enumerate(events):
            index = event.detail.get("index")
            found.setdefault(index if isinstance(index, int) else n, event)
        return found

    fired, healed = by_index("fault_fired"), by_index("fault_healed")
    windows = []
    for index in sorted(fired):
        start = fired[index].at_ns
        heal = healed.get(index)
        end = heal.at_ns if heal is not None else history.ended_ns or start
        windows.append(FaultWindow(index, str(fired[index].detail.get("fault", "fault")), start,
                                   max(end, start)))
    return windows


def _draw_events(ax: Any, history: History, origin: int, top: float) -> None:
    windows = fault_windows(history)
    for window in windows:
        start = _seconds(window.fired_ns, origin)
        ax.axvspan(start, _seconds(window.healed_ns, origin), color=_LOST, alpha=0.12, lw=0)
        ax.axvline(start, color=_LOST, lw=1.5)
        if len(windows) > 1:
            ax.text(start, 1.005, f"fault {window.index + 1}: {window.fault}", fontsize=7,
                    color=_LOST, va="bottom", ha="left", transform=ax.get_xaxis_transform())
    _draw_workers(ax, history, origin, top)


def _worker_label(kind: str, worker: str, exit_code: int | None, teardown: bool) -> str:
    if kind == "worker_started":
        return f"{worker} started"
    if teardown:
        return f"{worker} stopped (end of trial)"
    return f"{worker} died (exit {exit_code})"


def _draw_workers(ax: Any, history: History, origin: int, top: float) -> None:
    """Worker starts and deaths as vertical marks; the harness's stop of every worker at the end
    of the trial is drawn faint, not like a crash. Labels closer than 4% of the time axis to the
    previous one go to the other side of their line, then a row down, so they do not overlap."""
    events = sorted((e for e in history.events
                     if e.kind in ("worker_started", "worker_exited")), key=lambda e: e.at_ns)
    if not events:
        return
    span = max(_seconds(events[-1].at_ns, origin), 1e-9)
    last_x, row = -math.inf, 0
    for event in events:
        x = _seconds(event.at_ns, origin)
        teardown = event.detail.get("stopped_by") == "teardown"
        started = event.kind == "worker_started"
        ax.axvline(x, color="lightgrey" if teardown else "grey", lw=0.8 if teardown else 1,
                   ls=":" if started or teardown else "-.")
        row = row + 1 if x - last_x < 0.04 * span else 0
        last_x = x
        label = _worker_label(event.kind, event.worker or "worker", event.exit_code, teardown)
        ax.text(x, top - 3.0 * ((row // 2) % 2), label, rotation=90, fontsize=7, va="top",
                ha="left" if row % 2 else "right", color="darkgrey" if teardown else "dimgrey")


def _draw_recovery(ax: Any, record: Mapping[Any, Any], history: History, origin: int) -> None:
    stored_fault_at = _number(record.get("fault_at_ns"))
    fault_at = history.fault_at_ns if stored_fault_at is None else int(stored_fault_at)
    ttr, frontier = _number(record.get("time_to_recover_s")), _number(record.get("frontier"))
    if fault_at is not None and ttr is not None:
        ax.axvline(_seconds(fault_at, origin) + ttr, color="#2ca02c", lw=1.8, ls="--")
    if frontier is not None:
        ax.axhline(frontier + 0.5, color="grey", lw=0.8, ls="--")


def _number(value: Any) -> float | None:
    """A stored figure as a float; None when it is null/NA/NaN."""
    if value is None or value is pd.NA or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _legend(ax: Any) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=_ATTEMPT_COLORS[0], label="LLM call, attempt 1 (delivered)"),
        Patch(color=_ATTEMPT_COLORS[1], label="LLM call, attempt 2 (delivered)"),
        Patch(facecolor="white", edgecolor=_LOST, hatch="///", label="LLM call billed, lost"),
        Line2D([], [], marker="D", color="black", ls="", label="step recorded"),
        Line2D([], [], color=_LOST, lw=1.5, label="fault fired"),
        Patch(color=_LOST, alpha=0.3, label="fault window (until healed)"),
        Line2D([], [], color="#2ca02c", ls="--", label="recovered (fault + time to recover)"),
        Line2D([], [], color="grey", ls="--", lw=0.8, label="frontier"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def timeline_chart(record: Mapping[Any, Any], history_json: Mapping[str, Any],
                   out_dir: Path, filename: str = "timeline.png") -> Chart:
    """Draw the timeline of one trial (``record`` is its row of the trials frame)."""
    history = history_from_json(history_json)
    origin = history.started_ns or min((e.received_ns for e in history.ledger), default=0)
    steps = [e.step for e in history.trial_ledger() if e.step is not None] or [0]
    with figure(figsize=(11, 4.8), dpi=DPI) as fig:
        ax = fig.add_subplot(1, 1, 1)
        _draw_calls(ax, history, origin)
        _draw_recovery(ax, record, history, origin)
        _draw_events(ax, history, origin, top=max(steps) + 0.9)
        faults = len(fault_windows(history))  # several: their labels sit above the axes
        ax.set_ylim(min(steps) - 0.7, max(steps) + 1.0)
        ax.set_xlabel("seconds since the trial started")
        ax.set_ylabel("logical step")
        ax.set_title(f"trial {record.get('trial_id')}", fontsize=10, pad=14 if faults > 1 else 6)
        ax.grid(axis="x", alpha=0.3)
        _legend(ax)
        fig.tight_layout()
        fig.savefig(out_dir / filename)
    return Chart(filename, "Timeline of one trial", _caption(record, faults))


def _caption(record: Mapping[Any, Any], faults: int = 1) -> str:
    ttr = _number(record.get("time_to_recover_s"))
    recovered = "never" if ttr is None else f"{ttr:.2f} s"
    return (
        f"Trial {record.get('trial_id')} (scenario {record.get('scenario')}, SUT "
        f"{record.get('sut')}, trigger {record.get('trigger')}, recovery {record.get('recovery')}, "
        f"seed {record.get('seed')}). Bars are LLM calls from request to response on their "
        "logical step's row; hatched bars were billed but never reached the worker. "
        + ("The shaded band is the fault window" if faults <= 1 else
           f"The {faults} shaded bands are the fault windows, numbered in the order they fired")
        + f"; the dashed green line is recovery ({recovered} after the "
        + ("fault" if faults <= 1 else "first fault") + "): the first request beyond the frontier."
    )
