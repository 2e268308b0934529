from __future__ import annotations

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
