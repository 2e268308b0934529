"""Distribution charts: redundant tokens by crash point, time-to-recover per fault.

Each function draws one PNG into the report directory and returns a :class:`Chart` describing it,
or None when the trials hold nothing to draw (the report then says so instead of showing an empty
picture). matplotlib runs on the Agg backend; figures are always closed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from harness.report._tables import has_fault

MODE_COLORS = {True: "#1f77b4", False: "#ff7f0e"}
MODE_LABELS = {True: "checkpointing on", False: "checkpointing off"}
DPI = 100


@dataclass(frozen=True)
class Chart:
    """A PNG in the report directory, with the words that go under it."""

    filename: str
    title: str
    caption: str


@contextmanager
def figure(*args: Any, **kwargs: Any) -> Iterator[Figure]:
    """A matplotlib figure that is closed whatever happens."""
    fig = plt.figure(*args, **kwargs)
    try:
        yield fig
    finally:
        plt.close(fig)


def _mode_label(frame: pd.DataFrame, checkpointing: bool) -> str:
    suts = ", ".join(sorted(frame["sut"].astype(str).unique()))
    return f"{MODE_LABELS[checkpointing]} ({suts})"


def _crash_axis(frame: pd.DataFrame) -> tuple[str, list[Any]]:
    """Plot against crash_step when every trial has one, else against the trigger's name."""
    if frame["crash_step"].notna().all():
        return "crash_step", sorted(frame["crash_step"].unique())
    return "trigger", sorted(frame["trigger"].astype(str).unique())


def _draw_redundant(ax: Any, scenario: str, frame: pd.DataFrame) -> None:
    column, ticks = _crash_axis(frame)
    position = {value: i for i, value in enumerate(ticks)}
    for mode in (False, True):
        part = frame[frame["checkpointing"] == mode]
        if part.empty:
            continue
        xs = [position[v] + (0.08 if mode else -0.08) for v in part[column]]
        ax.scatter(xs, part["redundant_tokens"], s=16, alpha=0.55, color=MODE_COLORS[mode])
        medians = part.groupby(part[column])["redundant_tokens"].median()
        ax.plot([position[v] for v in medians.index], medians.to_numpy(), marker="o",
                color=MODE_COLORS[mode], label=_mode_label(part, mode) + ", median")
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels([str(int(t)) if column == "crash_step" else str(t) for t in ticks])
    ax.set_xlabel("crash step (logical step in flight at the fault)"
                  if column == "crash_step" else "trigger")
    ax.set_ylabel("redundant tokens per trial")
    ax.set_title(f"scenario: {scenario}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")


def redundant_tokens_chart(trials: pd.DataFrame, out_dir: Path) -> Chart | None:
    """Redundant tokens against the crash point, with vs without checkpointing, per scenario."""
    faulted = trials[has_fault(trials) & trials["redundant_tokens"].notna()]
    if faulted.empty:
        return None
    scenarios = sorted(faulted["scenario"].astype(str).unique())
    cols = min(len(scenarios), 2)
    rows = math.ceil(len(scenarios) / cols)
    filename = "redundant_tokens.png"
    with figure(figsize=(7.5 * cols, 4.2 * rows), dpi=DPI) as fig:
        for i, scenario in enumerate(scenarios, start=1):
            ax = fig.add_subplot(rows, cols, i)
            _draw_redundant(ax, scenario, faulted[faulted["scenario"] == scenario])
        fig.tight_layout()
        fig.savefig(out_dir / filename)
    return Chart(filename, "Redundant tokens by crash point",
                 "Each dot is one trial; the line joins the medians. Without checkpointing a crash "
                 "re-bills every step already done, so waste grows with the crash step; with "
                 "checkpointing it stays at the step that was in flight.")


def _boxes(ax: Any, faults: Sequence[str], frame: pd.DataFrame) -> list[str]:
    notes = []
    for mode in (False, True):
        offset = 0.2 if mode else -0.2
        for i, fault in enumerate(faults):
            part = frame[(frame["fault"] == fault) & (frame["checkpointing"] == mode)]
            values = part["time_to_recover_s"].dropna().to_numpy()
            if len(values):
                ax.boxplot([values], positions=[i + offset], widths=0.32, showfliers=False,
                           patch_artist=True, medianprops={"color": "black"},
                           boxprops={"facecolor": MODE_COLORS[mode], "alpha": 0.35})
                ax.scatter([i + offset] * len(values), values, s=14, color=MODE_COLORS[mode],
                           zorder=3)
            missing = int(part["time_to_recover_s"].isna().sum())
            if missing:
                notes.append(f"{fault}, {MODE_LABELS[mode]}: {missing} never recovered")
    return notes


def time_to_recover_chart(trials: pd.DataFrame, out_dir: Path) -> Chart | None:
    """Box and strip plot of time-to-recover per fault, checkpointing on vs off."""
    faulted = trials[has_fault(trials)]
    if faulted["time_to_recover_s"].notna().sum() == 0:
        return None
    faults = sorted(faulted["fault"].astype(str).unique())
    filename = "time_to_recover.png"
    with figure(figsize=(max(6.0, 2.2 * len(faults) + 2), 4.2), dpi=DPI) as fig:
        ax = fig.add_subplot(1, 1, 1)
        notes = _boxes(ax, faults, faulted)
        ax.set_xticks(range(len(faults)))
        ax.set_xticklabels(faults)
        ax.set_xlim(-0.7, len(faults) - 0.3)
        ax.set_xlabel("fault")
        ax.set_ylabel("time to recover (s)")
        for mode in (False, True):
            ax.scatter([], [], color=MODE_COLORS[mode], label=MODE_LABELS[mode])
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / filename)
    caption = ("Time from the fault until the workflow asked for a step beyond the frontier, i.e. "
               "was back where the fault caught it. Boxes span the quartiles; dots are trials.")
    if notes:
        caption += " Not shown: " + "; ".join(notes) + "."
    return Chart(filename, "Time to recover per fault", caption)
