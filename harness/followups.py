"""Follow-up faults: when each of a trial's faults after the first may fire.

A :class:`harness.trial.FollowUp` names its anchor on the fault before it; the runner
(:mod:`harness.runner`) injects that fault, then, per the follow-up's anchor:

1. ``injected``: waits ``delay_s`` and runs the follow-up before healing the earlier fault;
2. ``healed``: heals the earlier fault, waits ``delay_s`` and runs the follow-up;
3. ``claimed``: heals the earlier fault, polls the SUT's workflow record every
   :data:`CLAIM_POLL_S` until its epoch grew past the one read as the earlier fault fired
   (:func:`wait_for_claim`), waits ``delay_s`` and runs the follow-up on the new owner.

An anchor that cannot fire before the trial's deadline, or a workflow that ends before it was
claimed, raises :class:`harness.triggers.TriggerNeverFired`: the trial is recorded as timed out
(verdicts unknown), never left waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.history import TERMINAL_STATUSES, WorkflowRecord
from harness.sut import SystemUnderTest
from harness.trial import TrialSpec
from harness.triggers import TriggerNeverFired

__all__ = ["CLAIM_POLL_S", "followups_unsupported", "wait_for_claim"]

CLAIM_POLL_S = 0.02
"""How often the ``claimed`` anchor reads the workflow's record: a new owner is caught within a
poll (plus the read) of its claim, long before it finishes the step it resumes."""


def followups_unsupported(spec: TrialSpec, sut: SystemUnderTest) -> str | None:
    """Why ``sut`` cannot run ``spec``'s follow-ups (the reason a scenario skips with); None when
    it can. A ``claimed`` anchor needs workflow records that show a claim as it happens."""
    if not any(f.when == "claimed" for f in spec.then):
        return None
    claims = sut.describe().claim_records
    if claims.visible:
        return None
    return (f"{sut.name} cannot anchor a fault on a claim by a new owner: {claims.how} "
            "(SutDescription.claim_records)")


def wait_for_claim(
    read: Callable[[], WorkflowRecord | None],
    past_epoch: int,
    timeout_s: float,
    *,
    poll_s: float = CLAIM_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WorkflowRecord:
    """The workflow's record once a new owner claimed it (epoch above ``past_epoch``, still
    running). ``read`` returns the record (None while the SUT has none).

    Raises :class:`TriggerNeverFired` when the workflow ends first (a claim that ended before a
    poll saw it included) or no claim shows within ``timeout_s``.
    """
    deadline = clock() + timeout_s
    last: WorkflowRecord | None = None
    while True:
        last = read() or last
        if last is not None and last.status in TERMINAL_STATUSES:
            raise TriggerNeverFired(
                f"workflow {last.workflow_id} ended {last.status} at epoch {last.epoch} before a "
                f"follow-up fault's claim anchor (epoch above {past_epoch}) was seen running")
        if last is not None and last.epoch > past_epoch:
            return last
        if clock() >= deadline:
            seen = (f"epoch {last.epoch}, executor {last.executor}" if last is not None
                    else "no record")
            raise TriggerNeverFired(
                f"no new owner claimed the workflow (epoch above {past_epoch}) within "
                f"{timeout_s:.1f}s; last seen: {seen}")
        sleep(poll_s)
