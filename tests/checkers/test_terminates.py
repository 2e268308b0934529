from __future__ import annotations

import pytest
from checker_histories import (
    clean_run,
    crash_run,
    event,
    history,
    outcome,
    wfrec,
    with_,
)

from harness.checkers import terminates
from harness.history import History, Validity

PENDING = (wfrec(status="PENDING", output=None),)

CASES: list[tuple[str, History, Validity, str]] = [
    ("clean run terminates", clean_run(), "true", "terminal"),
    ("crash run terminates after heal", crash_run(), "true", "terminal"),
    ("terminal only through a handle's outcome",
     with_(clean_run(), workflows=()), "true", "terminal"),
    ("pending after the bound", with_(clean_run(), workflows=PENDING, outcomes=(),
                                      terminate_bound_s=5.0), "false", "still not terminal"),
    ("terminal, but later than bound after heal", with_(crash_run(), terminate_bound_s=1.0),
     "false", "after the deadline"),
    ("child left pending", with_(clean_run(), workflows=(
        *clean_run().workflows, wfrec(wf="child-1", parent="wf-1", status="PENDING")),
        terminate_bound_s=5.0), "false", "child-1"),
    ("never healed: bound runs from the fault", with_(
        crash_run(), events=tuple(e for e in crash_run().events if e.kind != "fault_healed"),
        workflows=PENDING, outcomes=(), terminate_bound_s=10.0, ended_ns=crash_run().ended_ns),
     "false", "still not terminal"),
    ("trial timed out before the bound elapsed", with_(
        crash_run(), workflows=PENDING, outcomes=(), ended_ns=crash_run().started_ns + 10**10,
        events=(*crash_run().events, event("trial_timeout", 10.0))), "unknown", "before the"),
    ("no workflow started", history(workflow_ids=()), "unknown", "no workflow"),
    ("trial end taken from trial_ended event", with_(
        clean_run(), workflows=PENDING, outcomes=(outcome(status="PENDING"),), ended_ns=0,
        terminate_bound_s=3.0, events=(event("workflow_started", 0.0),
                                       event("trial_ended", 2.0))), "unknown", "before the"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_terminates(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = terminates.check(trial)
    assert verdict.property == "terminates"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
