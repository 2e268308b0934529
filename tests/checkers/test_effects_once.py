from __future__ import annotations

import pytest
from checker_histories import clean_run, crash_run, effect, with_

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
    ("zombie's effect applied after the takeover", with_(CRASH, effects=(
        effect(3.5, attempt=1, executor="w1"),
        effect(5.2, attempt=2, executor="w2", applied=False))),
     "false", "after attempt 2 took over"),
    ("no effect delivered", with_(CRASH, effects=()), "unknown", "no effect"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_effects_once(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = effects_once.check(trial)
    assert verdict.property == "effects_once"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
