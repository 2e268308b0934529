"""The lines a reader takes away: one per scenario (and environment, when there are several).

Each line compares the runtimes of one scenario without pooling them: per SUT the median
redundant tokens and the time-to-recover p50 over its trials with a fault, then the range of
those per-runtime medians with checkpointing on and off, e.g. "kill: redundant tokens p50 437
with checkpointing (4 runtimes) vs 1,269 without (3); time to recover p50 0.68-3.07 s vs
1.02-2.26 s; n = 6 per runtime; all 43 trials valid". No percentage: a cut of medians over a few
trials reads as more than it is; the runtime x fault matrix and the tables give each runtime's
figures. Never a median pooled across scenarios or runtimes. Time-to-recover medians leave out
trials that never recovered and say how many there were.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report._tables import has_fault, quantile

__all__ = ["headline", "headline_lines"]


def _span(values: list[float], fmt: str, unit: str = "") -> str:
    present = [v for v in values if not math.isnan(v)]
    if not present:
        return "n/a"
    low, high = min(present), max(present)
    text = format(low, fmt) if low == high else f"{format(low, fmt)}-{format(high, fmt)}"
    return text + unit


def _per_runtime(group: pd.DataFrame, column: str) -> list[float]:
    return [quantile(part[column], 0.5) for _, part in group.groupby("sut", sort=True)]


def _counts(group: pd.DataFrame) -> str:
    sizes = sorted(group.groupby("sut").size())
    n = str(sizes[0]) if sizes[0] == sizes[-1] else f"{sizes[0]}-{sizes[-1]}"
    return f"n = {n} per runtime"


def _verdicts(group: pd.DataFrame) -> str:
    bad = group[group["valid"] != "true"]
    if bad.empty:
        return f"all {len(group)} trials valid"
    return f"{len(bad)} of {len(group)} trials NOT valid"


def _mode(group: pd.DataFrame, on: bool) -> pd.DataFrame:
    return group[group["checkpointing"] == on]


def _scenario_line(label: str, group: pd.DataFrame) -> str:
    sides = [(_mode(group, True), "with checkpointing"), (_mode(group, False), "without")]
    sides = [(part, words) for part, words in sides if not part.empty]
    tokens = " vs ".join(
        f"{_span(_per_runtime(part, 'redundant_tokens'), ',.0f')} {words} "
        f"({part['sut'].nunique()} runtime{'s' if part['sut'].nunique() > 1 else ''})"
        for part, words in sides)
    recover = " vs ".join(_span(_per_runtime(part, "time_to_recover_s"), ".2f", " s")
                          for part, _ in sides)
    never = int(group["time_to_recover_s"].isna().sum())
    return (f"{label}: redundant tokens p50 {tokens}; time to recover p50 {recover}"
            + (f" ({never} never recovered)" if never else "")
            + f"; {_counts(group)}; {_verdicts(group)}")


def headline_lines(trials: pd.DataFrame) -> tuple[str, ...]:
    """The headline, one line per scenario (module docstring)."""
    if trials.empty:
        return ("no trials in the results store",)
    faulted = trials[has_fault(trials)]
    if faulted.empty:
        return (f"{len(trials)} trials, none with a fault: nothing to compare",)
    envs = faulted["env"].fillna("local") if "env" in faulted.columns else None
    several = envs is not None and envs.nunique() > 1
    keys = ["scenario", envs] if several and envs is not None else ["scenario"]
    lines: list[str] = []
    for key, group in faulted.groupby(keys, sort=True):
        parts = key if isinstance(key, tuple) else (key,)
        label = f"{parts[0]} ({parts[1]})" if several else str(parts[0])
        lines.append(_scenario_line(label, group))
    return tuple(lines)


def headline(trials: pd.DataFrame) -> str:
    """:func:`headline_lines` joined by newlines."""
    return "\n".join(headline_lines(trials))
