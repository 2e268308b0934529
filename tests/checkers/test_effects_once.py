from __future__ import annotations

from dataclasses import replace

import pytest
from checker_histories import clean_run, crash_run, effect, wfrec, with_

from harness.checkers import effects_once
from harness.history import History, Validity

CRASH = crash_run()

CASES: list[tuple[str, History, Validity, str]] = [
    ("published once", clean_run(), "true", "applied once"),
    ("published once after a crash", CRASH, "true", "applied once"),
    ("duplicate key deduplicated by the sink", with_(CRASH, effects=(
        *CRASH.effects, effect(5.3, attempt=2, executor="w2", applied=False))),
     "true", "2 deliveries"),
    ("other trials' effects are ignored", with_(clean_run(), effects=(
        *clean_run().effects, effect(4.9, wf="other-wf", key="other"))), "true", "applied once"),
    ("published twice under two keys", with_(CRASH, effects=(
        effect(1.9, key="wf-1:publish:a1"), *CRASH.effects)), "false", "applied 2 times"),
    ("success but never applied", with_(clean_run(), effects=(effect(4.8, applied=False),)),
     "false", "never applied"),
    # Who applied it is single_active_execution's concern (reference-nockpt does not promise it):
    # the zombie's effect applied once is not a breach of this property, whoever got there first.
    ("zombie's effect applied once after the takeover", with_(CRASH, effects=(
        effect(3.5, attempt=1, executor="w1"),
        effect(5.2, attempt=2, executor="w2", applied=False))),
     "true", "applied once"),
    ("one key applied twice (a sink that forgot it)", with_(CRASH, effects=(
        effect(3.5), effect(5.2, attempt=2, executor="w2"))),
     "false", "idempotency key 'wf-1:publish' applied 2 times"),
    ("a completed workflow that never sent an effect the golden run applied", with_(
        CRASH, effects=(), golden=replace(CRASH.golden, path_effects={"0": ("publish",)})),
     "false", "succeeded but its 'publish' effect (0 deliveries) was never applied"),
    ("a failed workflow owes nothing", with_(
        CRASH, effects=(), workflows=(wfrec(status="ERROR", epoch=2, executor="w2"),),
        golden=replace(CRASH.golden, path_effects={"0": ("publish",)})),
     "unknown", "no effect"),
    ("no effect delivered", with_(CRASH, effects=()), "unknown", "no effect"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_effects_once(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = effects_once.check(trial)
    assert verdict.property == "effects_once"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
