from __future__ import annotations

from dataclasses import replace

import pytest
from checker_histories import (
    WF,
    at,
    clean_run,
    crash_run,
    effect,
    event,
    history,
    led,
    output,
    rec,
    wfrec,
    with_,
)

from harness.checkers import single_active_execution
from harness.history import Claim, History, Validity
from harness.sut.reference import claim_record
from reference_runtime import ClaimInfo

CRASH = crash_run()


def _last_step_zombie(*, outcome_epoch: int | None, outcome_executor: str | None = "w1",
                      record_epoch: int = 2, claims: bool = True) -> History:
    """w1 ran every step and published, then was paused before its outcome write (fault at
    4.7 s); w2 claimed at 6.0 s and only replayed (no activity of its own); the outcome was
    written at 7.0 s by ``outcome_epoch``."""
    clean = clean_run()
    record = replace(wfrec(epoch=record_epoch, executor="w2", updated=7.0,
                           output=clean.workflows[0].output),
                     outcome_epoch=outcome_epoch, outcome_executor=outcome_executor)
    return with_(
        clean, workflows=(record,),
        claims=(Claim(WF, 1, "w1", at(0.0)), Claim(WF, 2, "w2", at(6.0))) if claims else (),
        events=(*clean.events, event("fault_fired", 4.7, worker="w1", executor="w1",
                                     detail={"fault": "pause"})))

CASES: list[tuple[str, History, Validity, str]] = [
    ("one execution", clean_run(), "true", "nothing accepted"),
    ("takeover after a crash", CRASH, "true", "nothing accepted"),
    ("takeover without checkpoints", crash_run(checkpointing=False), "true", "nothing accepted"),
    ("zombie keeps requesting (no writes): allowed", with_(CRASH, ledger=(
        *CRASH.ledger, led(3, 3.2, attempt=1, executor="w1", delivered=False))),
     "true", "nothing accepted"),
    ("zombie records a step after the takeover", with_(CRASH, steps=(
        *CRASH.steps, rec(5, 3.8, seq=5, epoch=1, executor="w1"))),
     "false", "epoch 1 wrote after epoch 2 had claimed"),
    ("zombie's effect lands after the takeover", with_(CRASH, effects=(
        effect(3.7, attempt=1, executor="w1"),)), "false", "epoch 1 wrote after epoch 2"),
    ("zombie's duplicate effect (not applied) is no breach", with_(CRASH, effects=(
        *CRASH.effects, effect(5.7, attempt=1, executor="w1", applied=False))),
     "true", "nothing accepted"),
    ("zombie's record between the claim and the newer epoch's first activity is not seen",
     with_(CRASH, steps=(*CRASH.steps, rec(2, 2.95, seq=2, epoch=1, executor="w1")),
           ledger=CRASH.ledger), "true", "nothing accepted"),
    # The reference SUT's data path: its runtime's claim log, mapped by ReferenceClient.claims.
    ("... unless the SUT reports its claims", with_(
        CRASH, steps=(*CRASH.steps, rec(2, 2.95, seq=2, epoch=1, executor="w1")),
        claims=(claim_record(ClaimInfo(WF, 1, "w1", None, "unowned", at(0.0))),
                claim_record(ClaimInfo(WF, 2, "w2", "w1", "session_ended", at(2.9))))),
     "false", "epoch 1 wrote after epoch 2 had claimed"),
    ("a record just before the reported claim is no breach", with_(
        CRASH, steps=(*CRASH.steps, rec(2, 2.85, seq=2, epoch=1, executor="w1")),
        claims=(Claim(WF, 1, "w1", at(0.0)), Claim(WF, 2, "w2", at(2.9)))),
     "true", "nothing accepted"),
    # A zombie further along than its replacement (paused at its last step) writes the outcome:
    # the output carries the nonce of a response it received after the takeover.
    ("zombie's outcome: a response received after the takeover", with_(
        CRASH, ledger=(*CRASH.ledger, led(3, 2.9, attempt=1, executor="w1", responded=3.4,
                                          nonce="zombie-3")),
        workflows=(wfrec(epoch=2, executor="w2", updated=6.5, output=output(
            {0: "n0a1", 1: "n1a1", 2: "n2a2", 3: "zombie-3"})),)),
     "false", "the outcome uses a response epoch 1 received after epoch 2"),
    # A resumable SUT: epoch 1's background response, finished after the takeover, was
    # retrieved by epoch 2 (the ledger's resumed_attempt): the owner's answer, no breach.
    ("a response resumed by the new owner is its own", with_(
        CRASH, ledger=(*CRASH.ledger, replace(
            led(3, 2.9, attempt=1, executor="w1", responded=3.4, nonce="resumed-3"),
            resumed_attempt=2)),
        workflows=(wfrec(epoch=2, executor="w2", updated=6.5, output=output(
            {0: "n0a1", 1: "n1a1", 2: "n2a2", 3: "resumed-3"})),)),
     "true", "nothing accepted"),
    ("... but not when only a superseded epoch retrieved it", with_(
        CRASH, ledger=(*CRASH.ledger, replace(
            led(3, 2.9, attempt=1, executor="w1", responded=3.4, nonce="resumed-3"),
            resumed_attempt=None)),
        workflows=(wfrec(epoch=2, executor="w2", updated=6.5, output=output(
            {0: "n0a1", 1: "n1a1", 2: "n2a2", 3: "resumed-3"})),)),
     "false", "the outcome uses a response epoch 1 received after epoch 2"),
    # ... or its outcome write carries its own epoch (the SUT records the outcome's writer):
    # a zombie that recorded every step before it was paused, resumed after a takeover by a
    # replacement that only replayed, and wrote the outcome.
    ("zombie's outcome written after the reported claim", _last_step_zombie(outcome_epoch=1),
     "false", "epoch 1 wrote after epoch 2 had claimed"),
    ("zombie's outcome, no claims reported: the record's own epoch is newer",
     _last_step_zombie(outcome_epoch=1, claims=False),
     "false", "outcome was written by epoch 1 although epoch 2 had claimed"),
    ("the replacement's outcome after a replay-only takeover",
     _last_step_zombie(outcome_epoch=2, outcome_executor="w2"), "true", "nothing accepted"),
    ("a SUT that keeps no outcome writer is not judged by it",
     _last_step_zombie(outcome_epoch=None, outcome_executor=None), "true", "nothing accepted"),
    ("the owner's outcome before any takeover", _last_step_zombie(
        outcome_epoch=1, record_epoch=1, claims=False), "true", "nothing accepted"),
    ("an outcome by another executor with the writer's epoch", with_(CRASH, workflows=(
        replace(CRASH.workflows[0], outcome_epoch=2, outcome_executor="w3"),)),
     "false", "both wrote with epoch 2"),
    ("takeover with no fault and a live owner", with_(
        CRASH, events=tuple(e for e in CRASH.events
                            if e.kind not in ("fault_fired", "worker_exited", "fault_healed"))),
     "false", "epoch 2 took the workflow from epoch 1 (w1) although no fault had fired"),
    ("takeover before the fault, after the owner died on its own", with_(
        CRASH, events=(*CRASH.events[:2], event("worker_exited", 2.1, executor="w1"),
                       event("fault_fired", 9.0))),
     "true", "nothing accepted"),
    ("two executors share an epoch", with_(CRASH, steps=(
        *CRASH.steps, rec(5, 5.8, seq=5, epoch=2, executor="w3"))),
     "false", "both wrote with epoch 2"),
    ("record ends owned by an older epoch", with_(CRASH, workflows=(
        wfrec(epoch=1, output=CRASH.workflows[0].output, updated=5.5),)),
     "false", "record ended at epoch 1"),
    ("nothing ran", history(workflows=(wfrec(status="PENDING"),)), "unknown", "no workflow"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_single_active_execution(name: str, trial: History, expected: Validity,
                                 says: str) -> None:
    verdict = single_active_execution.check(trial)
    assert verdict.property == "single_active_execution"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
