"""Distribution charts: redundant tokens by crash point, time-to-recover per fault.

Per runtime, never pooled into "on" / "off": each SUT has its own colour, marker and line style
(:mod:`harness.report._styles`), and one legend above the panels names them.

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
from matplotlib.lines import Line2D

from harness.report._styles import LineStyle, runtime_styles
from harness.report._tables import has_fault

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


def _crash_axis(frame: pd.DataFrame) -> tuple[str, list[Any]]:
    """Plot against crash_step when every trial has one, else against the trigger's name."""
    if frame["crash_step"].notna().all():
        return "crash_step", sorted(frame["crash_step"].unique())
    return "trigger", sorted(frame["trigger"].astype(str).unique())


def _styles(frame: pd.DataFrame) -> dict[str, LineStyle]:
    modes = {str(s): bool(c) for s, c in zip(frame["sut"], frame["checkpointing"], strict=True)}
    return runtime_styles(modes, modes)


def _draw_redundant(ax: Any, scenario: str, frame: pd.DataFrame,
                    styles: dict[str, LineStyle]) -> None:
    column, ticks = _crash_axis(frame)
    position = {value: i for i, value in enumerate(ticks)}
    present = [s for s in styles if s in set(frame["sut"].astype(str))]
    for i, sut in enumerate(present):
        part, style = frame[frame["sut"] == sut], styles[sut]
        nudge = (i - (len(present) - 1) / 2) * 0.06
        xs = [position[v] + nudge for v in part[column]]
        ax.scatter(xs, part["redundant_tokens"], s=12, alpha=0.45, color=style.colour,
                   marker=style.marker)
        medians = part.groupby(part[column])["redundant_tokens"].median()
        ax.plot([position[v] + nudge for v in medians.index], medians.to_numpy(),
                marker=style.marker, linestyle=style.linestyle, color=style.colour,
                markerfacecolor="white" if style.linestyle == "--" else style.colour, label=sut)
    ax.set_xticks(range(len(ticks)))
    ax.set_xticklabels([str(int(t)) if column == "crash_step" else str(t) for t in ticks],
                       fontsize=8)
    ax.set_xlabel("crash step (logical step in flight at the fault)"
                  if column == "crash_step" else "trigger", fontsize=9)
    ax.set_ylabel("redundant tokens per trial", fontsize=9)
    ax.set_title(f"scenario: {scenario}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def redundant_tokens_chart(trials: pd.DataFrame, out_dir: Path) -> Chart | None:
    """Redundant tokens against the crash point, one line of medians per runtime, per scenario."""
    faulted = trials[has_fault(trials) & trials["redundant_tokens"].notna()]
    if faulted.empty:
        return None
    scenarios = sorted(faulted["scenario"].astype(str).unique())
    styles = _styles(faulted)
    cols = min(len(scenarios), 2)
    rows = math.ceil(len(scenarios) / cols)
    filename = "redundant_tokens.png"
    with figure(figsize=(7.5 * cols, 3.6 * rows + 0.8), dpi=DPI) as fig:
        for i, scenario in enumerate(scenarios, start=1):
            ax = fig.add_subplot(rows, cols, i)
            _draw_redundant(ax, scenario, faulted[faulted["scenario"] == scenario], styles)
        _figure_legend(fig, styles)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / (3.6 * rows + 0.8)))
        fig.savefig(out_dir / filename)
    return Chart(filename, "Redundant tokens by crash point",
                 "Each dot is one trial; each line joins one runtime's medians (solid: "
                 "checkpointing on, dashed with hollow markers: off). Without checkpointing a "
                 "crash re-bills every step already done, so waste grows with the crash step; "
                 "with checkpointing it stays at the step that was in flight.")


def _figure_legend(fig: Figure, styles: dict[str, LineStyle]) -> None:
    """One legend for every panel, above them: never on the data."""
    handles = [Line2D([], [], color=st.colour, marker=st.marker, linestyle=st.linestyle,
                      markerfacecolor="white" if st.linestyle == "--" else st.colour, label=sut)
               for sut, st in styles.items()]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 7), fontsize=9,
               frameon=False)


def _strips(ax: Any, faults: Sequence[str], frame: pd.DataFrame,
            styles: dict[str, LineStyle]) -> list[str]:
    """Per fault, one column of dots per runtime with a bar at its median."""
    notes = []
    width = 0.8 / max(len(styles), 1)
    for i, fault in enumerate(faults):
        for j, (sut, style) in enumerate(styles.items()):
            part = frame[(frame["fault"] == fault) & (frame["sut"] == sut)]
            values = part["time_to_recover_s"].dropna().to_numpy()
            x = i - 0.4 + width * (j + 0.5)
            if len(values):
                ax.scatter([x] * len(values), values, s=14, color=style.colour,
                           marker=style.marker, alpha=0.7, zorder=3)
                median = float(pd.Series(values).median())
                ax.plot([x - width * 0.4, x + width * 0.4], [median, median], color="black",
                        linewidth=1.2, zorder=4)
            missing = int(part["time_to_recover_s"].isna().sum())
            if missing:
                notes.append(f"{fault}, {sut}: {missing} never recovered")
    return notes


def time_to_recover_chart(trials: pd.DataFrame, out_dir: Path) -> Chart | None:
    """Box and strip plot of time-to-recover per fault, checkpointing on vs off."""
    faulted = trials[has_fault(trials)]
    if faulted["time_to_recover_s"].notna().sum() == 0:
        return None
    faults = sorted(faulted["fault"].astype(str).unique())
    styles = _styles(faulted)
    filename = "time_to_recover.png"
    with figure(figsize=(max(8.0, 1.7 * len(faults) + 2), 5.0), dpi=DPI) as fig:
        ax = fig.add_subplot(1, 1, 1)
        notes = _strips(ax, faults, faulted, styles)
        ax.set_xticks(range(len(faults)))
        ax.set_xticklabels(faults)
        ax.set_xlim(-0.5, len(faults) - 0.5)
        for boundary in range(1, len(faults)):
            ax.axvline(boundary - 0.5, color="#ddd", linewidth=0.8)
        ax.set_xlabel("fault")
        ax.set_ylabel("time to recover (s)")
        ax.grid(axis="y", alpha=0.3)
        _figure_legend(fig, styles)
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        fig.savefig(out_dir / filename)
    caption = ("Time from the fault until the workflow asked for a step beyond the frontier and "
               "got its answer, i.e. was back where the fault caught it. Per fault, one column "
               "of dots per runtime (each dot a trial, the bar its median), in the legend's "
               "order.")
    if notes:
        caption += " Not shown: " + "; ".join(notes) + "."
    return Chart(filename, "Time to recover per fault", caption)
