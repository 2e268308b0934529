"""Checkers: pure functions over a trial's history -> verdicts (docs/architecture.md, "Verdicts").

Each property has one module (``terminates``, ``single_outcome``, ``no_replay``,
``bounded_waste``, ``output_consistency``, ``effects_once``, ``single_active_execution``) whose
``check(history) -> Verdict`` is registered in :data:`CHECKERS` and whose docstring states the
exact semantics. Checkers never touch processes, sockets, files or clocks.

:func:`judge` runs all of them and composes the promised ones (false > unknown > true); a checker
that raises becomes ``unknown`` with its error text.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.checkers import (
    bounded_waste,
    effects_once,
    no_replay,
    output_consistency,
    single_active_execution,
    single_outcome,
    terminates,
)
from harness.checkers._judge import NOT_PROMISED, Judgement, judge_with, run_checker
from harness.checkers._verdict import Checker, Verdict, compose
from harness.history import History, Property

__all__ = [
    "CHECKERS",
    "NOT_PROMISED",
    "Checker",
    "Judgement",
    "Verdict",
    "compose",
    "judge",
    "run_checker",
]

CHECKERS: dict[Property, Checker] = {
    "terminates": terminates.check,
    "single_outcome": single_outcome.check,
    "no_replay": no_replay.check,
    "bounded_waste": bounded_waste.check,
    "output_consistency": output_consistency.check,
    "effects_once": effects_once.check,
    "single_active_execution": single_active_execution.check,
}


def judge(history: History, promised: frozenset[Property],
          checkers: Mapping[Property, Checker] = CHECKERS) -> Judgement:
    """Every property's verdict on ``history``; ``valid`` composes the ``promised`` ones only."""
    return judge_with(history, promised, checkers)
