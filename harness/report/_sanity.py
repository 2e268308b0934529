"""Gate rules on the store's integrity, beside the verdict and limit rules of ``_gate.py``:

- every run that wrote a plan (:mod:`harness.run_plan`) finished all of it: a run cut off after
  trial 1 of 14 must not pass as if 1 trial were the suite, nor shard 1/2 of a run as if it were
  the run (``allow_partial`` lifts this rule);
- every figure is finite and at least the lower bound of its definition
  (:data:`FIGURE_BOUNDS`, one entry per column of the results store, each with its meaning). A
  bound follows from what the figure *is*: a count, a cost or a duration cannot be negative; a
  logical step index is -1 when no step qualifies; a difference between two separate runs has no
  bound. ``Infinity``, a negative token count or a frontier below -1 means a broken writer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd

from harness.report._gate import GateFailure, _failure
from harness.report._store import FIGURE_COLUMNS
from harness.run_plan import RunPlan

__all__ = ["FIGURE_BOUNDS", "FigureBound", "figure_failures", "run_failures"]


@dataclass(frozen=True)
class FigureBound:
    """What a figure of a results line means, and the least value that meaning allows."""

    meaning: str
    lower: float | None = 0.0
    """None: no lower bound (a difference between two separate runs)."""


FIGURE_BOUNDS: dict[str, FigureBound] = {
    "crash_step": FigureBound(
        "the logical step the trigger aimed the fault at (the step in flight when it fired)"),
    "tokens_billed": FigureBound(
        "tokens the provider billed for the trial's workflows, every request counted"),
    "golden_tokens_billed": FigureBound(
        "tokens billed by the golden run (same SUT, workload and seed, no fault)"),
    "redundant_tokens": FigureBound(
        "tokens_billed - golden_tokens_billed: tokens paid again because of the fault"),
    "redundant_calls": FigureBound(
        "LLM calls (requests, billed or rejected) beyond the golden run's"),
    "cost_usd": FigureBound("dollars billed for the trial's workflows at the model's list price"),
    "redundant_cost_usd": FigureBound("cost_usd - the golden run's cost_usd"),
    "fault_at_ns": FigureBound("when the fault fired (ns since the epoch, the harness clock)"),
    "frontier": FigureBound(
        "the highest logical step of the first root workflow whose LLM call was delivered and "
        "answered at or before the fault; -1 when none was (the fault came before the first "
        "answer, e.g. an orchestrator killed while starting its first child)", lower=-1.0),
    "time_to_resume_s": FigureBound(
        "seconds from the fault to the first activity (LLM request, tool start, step record) of "
        "an execution the fault does not hold; None: none after the fault (harness.figures)"),
    "time_to_recover_s": FigureBound(
        "seconds from the fault to the first answered LLM request beyond the frontier by the "
        "execution that completed the workflow (else its terminal update); >= time_to_resume_s; "
        "None: a root never finished (harness.figures)"),
    "completion_delay_s": FigureBound(
        "duration_s - golden_duration_s: how much later the faulted run finished than its "
        "golden run; two separate runs, so run-to-run noise can make it negative", lower=None),
    "duration_s": FigureBound(
        "seconds from the first workflow start to the last root workflow's terminal update"),
    "golden_duration_s": FigureBound("duration_s of the golden run"),
    "wall_s": FigureBound("wall-clock seconds the harness spent on the trial, setup included"),
    "tool_executions": FigureBound("tool executions in the provider's tool log (any outcome)"),
    "redundant_tool_calls": FigureBound("tool_executions beyond the golden run's"),
}


def _bound_text(lower: float) -> str:
    return f">= {lower:g}"


def figure_failures(trials: pd.DataFrame) -> Iterator[GateFailure]:
    """A failure per non-finite figure, and per figure below its :data:`FIGURE_BOUNDS` bound."""
    for row in trials.to_dict("records"):
        for name in FIGURE_COLUMNS:
            value = row.get(name)
            if value is None or value is pd.NA or isinstance(value, bool):
                continue
            number = float(value)
            if math.isnan(number):
                continue  # a missing figure; the limit rules judge absence
            lower = FIGURE_BOUNDS[name].lower
            if math.isinf(number):
                yield _failure(row, name, str(number), "a finite number")
            elif lower is not None and number < lower:
                yield _failure(row, name, f"{number:g}", _bound_text(lower))


def run_failures(plans: Iterable[RunPlan]) -> Iterator[GateFailure]:
    """A failure per run that did not finish what it planned."""
    for plan in plans:
        where = plan.run_id + (f" shard {plan.shard}" if plan.shard else "")
        if plan.missing:
            yield GateFailure("(run)", where, "", "", "results store", "not given",
                              "every shard's store; pass --allow-partial to judge some shards")
        elif not plan.complete:
            done = "no end recorded" if plan.finished is None else str(plan.finished)
            yield GateFailure("(run)", where, "", "", "scenario tests finished",
                              f"{done} of {plan.planned}",
                              "all planned; pass --allow-partial to judge a partial run")
