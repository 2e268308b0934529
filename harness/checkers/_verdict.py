"""Verdict: what one checker concluded about one property of a trial, and how verdicts compose.

``valid`` is "true", "false" or "unknown"; "unknown" means the trial did not exercise what the
property is about (or the checker could not decide) and is never a pass. Composition ranks
false > unknown > true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from harness.history import History, Property, Validity

__all__ = ["Checker", "Verdict", "compose", "worst_of"]


@dataclass(frozen=True)
class Verdict:
    """One property's verdict.

    ``details`` is a one-line summary (which workflow, what); ``evidence`` the slice of history
    that shows it, one short line per fact, times relative to the fault where there was one.
    ``workflow_id`` names the workflow the verdict is about, when it is about one.
    """

    property: Property
    valid: Validity
    details: str
    evidence: tuple[str, ...] = ()
    workflow_id: str | None = None


Checker = Callable[[History], Verdict]
"""A checker: a pure function of a trial's history."""

_RANK: dict[Validity, int] = {"true": 0, "unknown": 1, "false": 2}


def compose(verdicts: Iterable[Verdict | Validity]) -> Validity:
    """The worst of the given verdicts: false > unknown > true ("true" for none)."""
    worst: Validity = "true"
    for v in verdicts:
        valid = v.valid if isinstance(v, Verdict) else v
        if valid not in _RANK:
            raise ValueError(f"not a validity: {valid!r}; expected 'true', 'false' or 'unknown'")
        if _RANK[valid] > _RANK[worst]:
            worst = valid
    return worst


def worst_of(verdicts: Iterable[Verdict], fallback: Verdict) -> Verdict:
    """The first verdict of the worst validity among ``verdicts``; ``fallback`` when all are true.

    Used by checkers that judge each workflow separately and report the most damning one.
    """
    found = list(verdicts)
    worst = compose(found)
    if worst == "true":
        return fallback
    matching = [v for v in found if v.valid == worst]
    first = matching[0]
    if len(matching) == 1:
        return first
    others = sorted({v.workflow_id or "?" for v in matching[1:]})
    return replace(first, details=f"{first.details} (also: {', '.join(others)})")
