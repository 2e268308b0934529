"""The one sentence a reader takes away: what checkpointing saved when things crashed.

Compares medians over all trials with a fault: checkpointing on vs off. Redundant tokens use every
such trial; time-to-recover uses those that recovered (a null time-to-recover is left out). When
only one mode ran, the sentence says what is there and what to add.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report._tables import has_fault, quantile


def _seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} s"


def _tokens(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _tokens_clause(on: float, off: float) -> str:
    if math.isnan(on) or math.isnan(off) or off == 0:
        return (f"median redundant tokens {_tokens(off)} without and {_tokens(on)} "
                "with checkpointing")
    change = 1 - on / off
    verb = "cut" if change >= 0 else "raised"
    return (f"checkpointing {verb} redundant tokens by {abs(change):.0%} "
            f"(median {_tokens(off)} -> {_tokens(on)})")


def _one_mode(frame: pd.DataFrame, checkpointing: bool) -> str:
    mode, other = ("on", "off") if checkpointing else ("off", "on")
    return (
        f"only checkpointing-{mode} trials with a fault ({len(frame)}): median redundant tokens "
        f"{_tokens(quantile(frame['redundant_tokens'], 0.5))}, time-to-recover p50 "
        f"{_seconds(quantile(frame['time_to_recover_s'], 0.5))}; run the checkpointing-{other} "
        "SUT too to measure what checkpointing saves"
    )


def headline(trials: pd.DataFrame) -> str:
    """E.g. "checkpointing cut redundant tokens by 87% (median 7,350 -> 955) and time-to-recover
    p50 from 2.41 s to 0.38 s (36 trials with a fault)"."""
    if trials.empty:
        return "no trials in the results store"
    faulted = trials[has_fault(trials)]
    if faulted.empty:
        return f"{len(trials)} trials, none with a fault: nothing to compare"
    on, off = faulted[faulted["checkpointing"]], faulted[~faulted["checkpointing"]]
    if off.empty or on.empty:
        return _one_mode(on if off.empty else off, checkpointing=off.empty)
    tokens = _tokens_clause(quantile(on["redundant_tokens"], 0.5),
                            quantile(off["redundant_tokens"], 0.5))
    ttr_on = quantile(on["time_to_recover_s"], 0.5)
    ttr_off = quantile(off["time_to_recover_s"], 0.5)
    return (f"{tokens} and time-to-recover p50 from {_seconds(ttr_off)} to {_seconds(ttr_on)} "
            f"({len(faulted)} trials with a fault)")
