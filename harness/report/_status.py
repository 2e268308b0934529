"""The report's first lines: did the run pass, and if not, which trials failed which property.

A trial **fails** when its ``valid`` is not ``"true"`` (false or unknown: unknown is never a
pass). For each failed trial the status names the promised properties that are false or unknown
and links the trial's own timeline (``timeline-<n>.png`` beside the HTML, drawn from its stored
history; at most :data:`MAX_TIMELINES`, the others point at ``trials.csv``). The status is passed
when there is at least one trial and none failed; a store with no trials is not a pass.

A trial that is not valid but is a **known finding** (its run lists it among the suite's
expected failures: an xfail naming it) does not fail the status: it is listed apart, with its
timeline, and the status line says how many there are -- as ``durabench gate`` judges them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report._store import VERDICT_PREFIX, FindingKey, finding_key

__all__ = ["MAX_TIMELINES", "FailedTrial", "RunStatus", "run_status"]

MAX_TIMELINES = 20


@dataclass(frozen=True)
class FailedTrial:
    """One trial that is not valid, and why."""

    row: int
    """Its row in the trials frame."""
    trial_id: str
    scenario: str
    sut: str
    env: str
    valid: str
    properties: tuple[str, ...]
    """``property=value`` for every verdict that is false or unknown."""
    timeline: str | None = None
    """File name of its timeline in the report directory; None when not drawn."""


@dataclass(frozen=True)
class RunStatus:
    trials: int
    failed: tuple[FailedTrial, ...]
    known: tuple[FailedTrial, ...] = ()
    """Trials that are not valid and are known findings (expected failures of their run)."""

    @property
    def passed(self) -> bool:
        return self.trials > 0 and not self.failed

    def line(self) -> str:
        """E.g. "FAILED: 2 of 18 trials are not valid (no_replay=false, ...)"."""
        if self.trials == 0:
            return "NO TRIALS: the results store holds no trial, so nothing passed"
        if self.passed and self.known:
            return (f"PASSED: {self.trials - len(self.known)} of {self.trials} trials valid; "
                    f"the other {len(self.known)} show known findings of their runtimes "
                    "(expected failures of the suite, listed below)")
        if self.passed:
            return f"PASSED: all {self.trials} trials valid (every promised verdict true)"
        props = sorted({p for f in self.failed for p in f.properties})
        return (f"FAILED: {len(self.failed)} of {self.trials} trials are not valid "
                f"({', '.join(props) or 'no verdict recorded'})")


def _bad_verdicts(row: Mapping[Any, Any]) -> tuple[str, ...]:
    return tuple(f"{k.removeprefix(VERDICT_PREFIX)}={v}" for k, v in row.items()
                 if str(k).startswith(VERDICT_PREFIX) and v in ("false", "unknown"))


def run_status(trials: pd.DataFrame, timelines: Mapping[int, str] | None = None,
               known: Collection[FindingKey] = ()) -> RunStatus:
    """The status of ``trials``; ``timelines`` maps a row to its drawn timeline file; ``known``:
    the (run label, trial id) of each trial its run expected to fail (a known finding;
    :func:`harness.report.known_findings`)."""
    drawn = timelines or {}
    failed: list[FailedTrial] = []
    expected: list[FailedTrial] = []
    for index, row in trials.iterrows():
        if row.get("valid") == "true":
            continue
        position = int(str(index))
        (expected if finding_key(row.to_dict()) in known else failed).append(FailedTrial(
            row=position, trial_id=str(row["trial_id"]), scenario=str(row["scenario"]),
            sut=str(row["sut"]), env=str(row.get("env") or "local"), valid=str(row["valid"]),
            properties=_bad_verdicts(row.to_dict()), timeline=drawn.get(position)))
    return RunStatus(trials=len(trials), failed=tuple(failed), known=tuple(expected))


def failed_rows(trials: pd.DataFrame) -> list[int]:
    """Rows of the trials that are not valid, in order."""
    return [int(str(i)) for i in trials.index[trials["valid"] != "true"]]


def draw_failed_timelines(trials: pd.DataFrame,
                          histories: Sequence[Mapping[str, Any] | None], out_dir: Path,
                          draw: Callable[..., Any]) -> dict[int, str]:
    """Draw the timeline of each failed trial that carries a history (at most MAX_TIMELINES);
    ``draw(record, history, out_dir, filename)`` draws one. Returns row -> file name."""
    for old in out_dir.glob("timeline-*.png"):
        old.unlink()
    drawn: dict[int, str] = {}
    for row in failed_rows(trials)[:MAX_TIMELINES]:
        history = histories[row]
        if history is None:
            continue
        filename = f"timeline-{row}.png"
        draw(trials.loc[row].to_dict(), history, out_dir, filename)
        drawn[row] = filename
    return drawn
