"""The soak's picture, in the style of Jepsen's rate and latency plots: completions per second
and workflows in flight over time, a coloured band for each fault while it was active, and the
verdict list beside them. Reads only the history and the figures; writes one PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from harness.history import History
from harness.soak._checks import SoakFigures
from harness.soak._slices import fault_spans, lifetimes

COLOURS = {"kill": "#d62728", "evict": "#ff7f0e", "pause": "#9467bd", "oom": "#8c564b",
           "db_crash": "#1f77b4", "partition": "#e377c2", "degrade": "#bcbd22",
           "provider_errors": "#17becf"}


def _series(history: History) -> tuple[list[float], list[int], list[float], list[int]]:
    """(seconds, completions in that second), (seconds, workflows in flight) from the start."""
    origin = history.started_ns
    life = lifetimes(history)
    end_s = max(1, int((history.ended_ns - origin) / 1e9) + 1)
    done = [0] * end_s
    in_flight = [0] * end_s
    for start, finish in life.values():
        first = max(0, int((start - origin) / 1e9))
        last = end_s if finish is None else min(end_s, int((finish - origin) / 1e9))
        if finish is not None and last < end_s:
            done[last] += 1
        for sec in range(first, last):
            in_flight[sec] += 1
    seconds = [float(s) for s in range(end_s)]
    return seconds, done, seconds, in_flight


def verdict_lines(fig: SoakFigures) -> list[str]:
    lines = [f"workflows {fig.workflows}: {fig.succeeded} ok, {fig.failed} failed",
             f"lost {len(fig.lost)}  stuck {len(fig.stuck)}",
             f"duplicate outcomes {len(fig.duplicate_outcomes)}",
             f"duplicate effects {len(fig.duplicate_effects)}",
             f"superseded writes {len(fig.superseded_writes)}"]
    if fig.queue_overruns:
        lines.append(f"queue limit overruns {len(fig.queue_overruns)}")
    lines += [f"{prop} false: {n}" for prop, n in sorted(fig.false_by_property.items()) if n]
    lines.append(f"redundant tokens {fig.redundant_tokens} (${fig.redundant_cost_usd:.4f})")
    lines.append("VALID" if fig.clean else "INVALID")
    return lines


def draw(history: History, fig: SoakFigures, title: str, path: Path) -> Path:
    x1, done, x2, in_flight = _series(history)
    canvas, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(12, 6))
    top.plot(x1, done, drawstyle="steps-post", color="black", linewidth=0.8)
    top.set_ylabel("completions / s")
    bottom.plot(x2, in_flight, drawstyle="steps-post", color="black", linewidth=0.8)
    bottom.set_ylabel("in flight")
    bottom.set_xlabel("seconds since the soak started")
    kinds = set()
    for span in fault_spans(history):
        start = (span.fired_ns - history.started_ns) / 1e9
        stop = max(start + 0.2, (span.healed_ns - history.started_ns) / 1e9)
        for ax in (top, bottom):
            ax.axvspan(start, stop, color=COLOURS.get(span.kind, "grey"), alpha=0.25, lw=0)
        kinds.add(span.kind)
    canvas.legend(handles=[Patch(color=COLOURS.get(k, "grey"), alpha=0.4, label=k)
                           for k in sorted(kinds)], loc="upper left", fontsize=8,
                  bbox_to_anchor=(0.80, 0.88), title="faults (active)")
    top.set_title(title, fontsize=10)
    canvas.text(0.80, 0.35, "\n".join(verdict_lines(fig)), fontsize=8, family="monospace",
                va="center", transform=canvas.transFigure)
    canvas.subplots_adjust(right=0.78)
    canvas.savefig(path, dpi=110)
    plt.close(canvas)
    return path
