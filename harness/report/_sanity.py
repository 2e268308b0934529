"""Gate rules on the store's integrity, beside the verdict and limit rules of ``_gate.py``:

- every run that wrote a plan (:mod:`harness.run_plan`) finished all of it: a run cut off after
  trial 1 of 14 must not pass as if 1 trial were the suite (``allow_partial`` lifts this rule);
- every figure is finite, and every count, cost and duration is >= 0 (``completion_delay_s`` may
  be negative: a trial can finish sooner than its golden run). ``Infinity`` or a negative token
  count means a broken writer, not a fast recovery.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import pandas as pd

from harness.report._gate import GateFailure, _failure
from harness.report._store import FIGURE_COLUMNS
from harness.run_plan import RunPlan

MAY_BE_NEGATIVE = frozenset({"completion_delay_s"})


def figure_failures(trials: pd.DataFrame) -> Iterator[GateFailure]:
    """A failure per non-finite figure, and per negative one that cannot be negative."""
    for row in trials.to_dict("records"):
        for name in FIGURE_COLUMNS:
            value = row.get(name)
            if value is None or value is pd.NA or isinstance(value, bool):
                continue
            number = float(value)
            if math.isnan(number):
                continue  # a missing figure; the limit rules judge absence
            if math.isinf(number):
                yield _failure(row, name, str(number), "a finite number")
            elif number < 0 and name not in MAY_BE_NEGATIVE:
                yield _failure(row, name, f"{number:g}", ">= 0")


def run_failures(plans: Iterable[RunPlan]) -> Iterator[GateFailure]:
    """A failure per run that did not finish what it planned."""
    for plan in plans:
        if not plan.complete:
            done = "no end recorded" if plan.finished is None else str(plan.finished)
            yield GateFailure("(run)", plan.run_id, "", "", "scenario tests finished",
                              f"{done} of {plan.planned}",
                              "all planned; pass --allow-partial to judge a partial run")
