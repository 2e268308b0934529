"""The lines a reader takes away: what checkpointing saved, per scenario, SUT against its twin.

One line per (scenario, environment when there are several, checkpointing SUT) over the trials
with a fault, comparing the SUT with its checkpointing-off twin (``twin`` of its results lines):
median redundant tokens, the cut, time-to-recover p50, and n on each side. Never a median pooled
across scenarios: a fault that wastes nothing would drown one that wastes a lot. A SUT whose twin
did not run gets its own figures and says so; a twin-only scenario gets its own line too.

Time-to-recover medians leave out trials that never recovered and say how many there were.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report._tables import has_fault, quantile

__all__ = ["headline", "headline_lines"]


def _seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} s"


def _tokens(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _never(group: pd.DataFrame) -> str:
    never = int(group["time_to_recover_s"].isna().sum())
    return f", {never} never recovered" if never else ""


def _cut(on: float, off: float) -> str:
    if math.isnan(on) or math.isnan(off) or off == 0:
        return ""
    change = 1 - on / off
    return f" ({'cut' if change >= 0 else 'raised'} {abs(change):.0%})"


def _pair_line(label: str, sut: str, twin: str, on: pd.DataFrame, off: pd.DataFrame) -> str:
    tok_on, tok_off = (quantile(g["redundant_tokens"], 0.5) for g in (on, off))
    ttr_on, ttr_off = (quantile(g["time_to_recover_s"], 0.5) for g in (on, off))
    return (f"{label}: {sut} vs {twin}: median redundant tokens {_tokens(tok_on)} vs "
            f"{_tokens(tok_off)}{_cut(tok_on, tok_off)}; time to recover p50 {_seconds(ttr_on)} "
            f"vs {_seconds(ttr_off)} (n = {len(on)}{_never(on)} vs {len(off)}{_never(off)})")


def _single_line(label: str, sut: str, group: pd.DataFrame, why: str) -> str:
    return (f"{label}: {sut}: median redundant tokens "
            f"{_tokens(quantile(group['redundant_tokens'], 0.5))}; time to recover p50 "
            f"{_seconds(quantile(group['time_to_recover_s'], 0.5))} (n = {len(group)}"
            f"{_never(group)}; {why})")


def _scenario_lines(label: str, group: pd.DataFrame) -> list[str]:
    lines: list[str] = []
    paired: set[str] = set()
    twins = group["twin"] if "twin" in group.columns else pd.Series(None, index=group.index)
    on_all = group[group["checkpointing"]]
    for sut in sorted(on_all["sut"].unique()):
        on = on_all[on_all["sut"] == sut]
        twin = next((str(t) for t in twins[on.index] if isinstance(t, str) and t), None)
        off = group[(group["sut"] == twin) & ~group["checkpointing"]] if twin else group[:0]
        if twin and len(off):
            paired.add(twin)
            lines.append(_pair_line(label, str(sut), twin, on, off))
        else:
            why = f"its twin {twin} did not run" if twin else "it names no twin"
            lines.append(_single_line(label, str(sut), on, why))
    off_all = group[~group["checkpointing"]]
    for sut in sorted(set(off_all["sut"].unique()) - paired):
        lines.append(_single_line(label, str(sut), off_all[off_all["sut"] == sut],
                                  "checkpointing off; no checkpointing SUT ran beside it"))
    return lines


def headline_lines(trials: pd.DataFrame) -> tuple[str, ...]:
    """The headline, one line per scenario and checkpointing SUT (module docstring)."""
    if trials.empty:
        return ("no trials in the results store",)
    faulted = trials[has_fault(trials)]
    if faulted.empty:
        return (f"{len(trials)} trials, none with a fault: nothing to compare",)
    envs = faulted["env"].fillna("local") if "env" in faulted.columns else None
    several = envs is not None and envs.nunique() > 1
    lines: list[str] = []
    keys = ["scenario", envs] if several and envs is not None else ["scenario"]
    for key, group in faulted.groupby(keys, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        label = f"{parts[0]} ({parts[1]})" if several else str(parts[0])
        lines += _scenario_lines(label, group)
    return tuple(lines)


def headline(trials: pd.DataFrame) -> str:
    """:func:`headline_lines` joined by newlines, e.g. "kill: reference vs reference-nockpt:
    median redundant tokens 150 vs 1,620 (cut 91%); time to recover p50 0.41 s vs 2.30 s
    (n = 6 vs 6)"."""
    return "\n".join(headline_lines(trials))
