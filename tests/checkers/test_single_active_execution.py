from __future__ import annotations

import pytest
from checker_histories import clean_run, crash_run, effect, history, led, rec, wfrec, with_

from harness.checkers import single_active_execution
from harness.history import History, Validity

CRASH = crash_run()

CASES: list[tuple[str, History, Validity, str]] = [
    ("one execution", clean_run(), "true", "fenced"),
    ("takeover after a crash", CRASH, "true", "fenced"),
    ("takeover without checkpoints", crash_run(checkpointing=False), "true", "fenced"),
    ("zombie keeps requesting (no writes): allowed", with_(CRASH, ledger=(
        *CRASH.ledger, led(3, 3.2, attempt=1, executor="w1", delivered=False))),
     "true", "fenced"),
    ("zombie records a step after the takeover", with_(CRASH, steps=(
        *CRASH.steps, rec(5, 3.8, seq=5, epoch=1, executor="w1"))),
     "false", "epoch 1 wrote after epoch 2"),
    ("zombie's effect lands after the takeover", with_(CRASH, effects=(
        effect(3.7, attempt=1, executor="w1"),)), "false", "epoch 1 wrote after epoch 2"),
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
