from __future__ import annotations

import pytest
from checker_histories import clean_run, crash_run, event, led, with_

from harness.checkers import bounded_waste
from harness.history import History, Validity

CRASH = crash_run()

CASES: list[tuple[str, History, Validity, str]] = [
    ("only the in-flight step redone", CRASH, "true", "redundant 150 tokens (besides 0 billed "
                                                      "for failed calls) <= in-flight "
                                                      "allowance 150"),
    ("checkpointed step redone", with_(
        CRASH, ledger=(*CRASH.ledger, led(1, 3.9, attempt=2, executor="w2"))),
     "false", "redundant 300 tokens (besides 0 billed for failed calls) > in-flight "
              "allowance 150"),
    ("one token over: no slack", with_(
        CRASH, ledger=(*CRASH.ledger, led(3, 4.9, attempt=2, executor="w2", prompt=1,
                                          completion=0))),
     "false", "redundant 151"),
    ("rejected retries bill nothing", with_(
        CRASH, ledger=(*CRASH.ledger, led(2, 2.9, attempt=2, executor="w2", status=429,
                                          prompt=0, completion=0, delivered=False))),
     "true", "redundant 150"),
    ("a provider 500 bills the prompt: a retry, not a replay", with_(
        clean_run(), events=(*clean_run().events, event("fault_fired", 1.8)),
        ledger=(*clean_run().ledger, led(2, 1.9, status=500, prompt=40, completion=0))),
     "true", "redundant 0 tokens (besides 40 billed for failed calls) <= in-flight allowance 0"),
    ("a failed call does not excuse a replayed one", with_(
        clean_run(), events=(*clean_run().events, event("fault_fired", 1.8)),
        ledger=(*clean_run().ledger, led(2, 1.9, status=500, prompt=40, completion=0),
                led(1, 2.5))),
     "false", "redundant 150 tokens (besides 40 billed for failed calls) > in-flight "
              "allowance 0"),
    ("fault between checkpoints wastes nothing", with_(
        clean_run(), events=(*clean_run().events, event("fault_fired", 1.8))),
     "true", "redundant 0 tokens (besides 0 billed for failed calls) <= in-flight allowance 0"),
    ("checkpointing off", crash_run(checkpointing=False), "unknown", "checkpointing is off"),
    ("no golden run", with_(CRASH, golden=None), "unknown", "no golden"),
    ("fault never fired", clean_run(), "unknown", "never fired"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_bounded_waste(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = bounded_waste.check(trial)
    assert verdict.property == "bounded_waste"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
