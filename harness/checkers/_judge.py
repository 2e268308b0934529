"""Judging a trial: run every checker, keep the promised ones' verdicts for the trial's validity.

Steps: (1) run each checker on the history; a checker that raises yields ``unknown`` with the
error text instead of aborting the judgement; (2) compose the verdicts of the promised properties
only (false > unknown > true) into ``valid``; (3) report non-promised properties as
"not promised", never as passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.checkers._verdict import Checker, Verdict, compose
from harness.history import PROPERTIES, History, Property, Validity

__all__ = ["NOT_PROMISED", "Judgement", "judge_with", "run_checker"]

NOT_PROMISED = "not promised"


@dataclass(frozen=True)
class Judgement:
    """Every property's verdict for one trial, and the trial's validity over the promised ones."""

    verdicts: Mapping[Property, Verdict]
    promised: frozenset[Property]
    valid: Validity

    def as_json(self) -> dict[str, str]:
        """Property -> "true" | "false" | "unknown" | "not promised", in PROPERTIES order."""
        return {p: (self.verdicts[p].valid if p in self.promised else NOT_PROMISED)
                for p in PROPERTIES if p in self.verdicts}

    def summary(self) -> str:
        """A readable explanation of every promised verdict that is not true."""
        lines = [f"trial verdict: {self.valid}"]
        for p in PROPERTIES:
            verdict = self.verdicts.get(p)
            if p not in self.promised or verdict is None or verdict.valid == "true":
                continue
            scope = f"workflow {verdict.workflow_id}" if verdict.workflow_id else "whole trial"
            lines.append(f"- {p}: {verdict.valid} ({scope})")
            lines.append(f"    {verdict.details}")
            lines.extend(f"      {line}" for line in verdict.evidence)
        if len(lines) == 1:
            lines.append(f"all {len(self.promised)} promised properties hold")
        return "\n".join(lines)


def run_checker(prop: Property, check: Checker, history: History) -> Verdict:
    """``check(history)``; an exception becomes an ``unknown`` verdict carrying its text."""
    try:
        verdict = check(history)
    except Exception as exc:  # a checker bug must not hide the other verdicts
        return Verdict(prop, "unknown", f"checker raised {type(exc).__name__}: {exc}")
    if verdict.property != prop:
        return Verdict(prop, "unknown",
                       f"checker for {prop} returned a verdict about {verdict.property}")
    return verdict


def judge_with(history: History, promised: frozenset[Property],
               checkers: Mapping[Property, Checker]) -> Judgement:
    """Run ``checkers`` on ``history`` and compose the verdicts of ``promised``."""
    unknown = sorted(set(promised) - set(checkers))
    if unknown:
        raise ValueError(f"no checker for promised propert(y/ies) {unknown}; "
                         f"known: {sorted(checkers)}")
    verdicts = {p: run_checker(p, checkers[p], history) for p in PROPERTIES if p in checkers}
    valid = compose(verdicts[p] for p in promised)
    return Judgement(verdicts=verdicts, promised=frozenset(promised), valid=valid)
