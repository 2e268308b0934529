from __future__ import annotations

from dataclasses import replace

import pytest
from checker_histories import clean_run, crash_run, event, led, tool, with_

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
     "true", "redundant 0 tokens (besides 40 billed for failed calls) <= in-flight "
             "allowance 150"),
    ("a failed call does not excuse replayed ones", with_(
        clean_run(), events=(*clean_run().events, event("fault_fired", 1.8)),
        ledger=(*clean_run().ledger, led(2, 1.9, status=500, prompt=40, completion=0),
                led(0, 2.5), led(1, 2.6))),
     "false", "redundant 300 tokens (besides 40 billed for failed calls) > in-flight "
              "allowance 150"),
    ("fault between steps: the last step called is the allowance", with_(
        clean_run(), events=(*clean_run().events, event("fault_fired", 1.8))),
     "true", "redundant 0 tokens (besides 0 billed for failed calls) <= in-flight "
             "allowance 150"),
    # A runtime that claims checkpointing but records nothing until the end re-runs the whole
    # workflow after the crash. Its missing records used to count as "in flight" (allowance
    # 450 = steps 0, 1, 2, so the 450 redundant tokens passed); the ledger says only step 2 was.
    ("a runtime that records late cannot widen its own allowance", with_(
        crash_run(checkpointing=False), checkpointing=True),
     "false", "redundant 450 tokens (besides 0 billed for failed calls) > in-flight "
              "allowance 150"),
    ("the in-flight step paid twice after the crash", with_(
        CRASH, ledger=(*CRASH.ledger, led(2, 3.3, attempt=2, executor="w2"))),
     "false", "redundant 300 tokens (besides 0 billed for failed calls) > in-flight "
              "allowance 150"),
    ("a tool re-executed beyond the in-flight one", with_(
        CRASH, golden=replace(CRASH.golden, tool_executions=1),
        tools=(tool(1, 1.55), tool(1, 3.1, attempt=2, executor="w2"))),
     "false", "1 redundant tool execution(s) (besides 0 that failed) > 0 in flight"),
    # An armed OOM fault fires before the tool starts; the tool's allocation kills the worker
    # mid-tool: the unfinished execution shows the fault caught it.
    ("a tool cut off after the fault fired, re-executed", with_(
        CRASH, golden=replace(CRASH.golden, tool_executions=1),
        events=(*CRASH.events[:2], event("fault_fired", 1.52), *CRASH.events[3:]),
        tools=(tool(1, 1.55, finished=None), tool(1, 3.1, attempt=2, executor="w2"))),
     "true", "redundant"),
    ("the in-flight step's tool re-executed", with_(
        CRASH, golden=replace(CRASH.golden, tool_executions=1),
        events=(*CRASH.events[:2], event("fault_fired", 2.7), *CRASH.events[3:]),
        tools=(tool(2, 2.6, finished=None), tool(2, 3.1, attempt=2, executor="w2"))),
     "true", "redundant 150"),
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


def test_the_2953_token_case() -> None:
    """A broken runtime paid a whole run's worth (2,953 tokens) again after a crash at its last
    step and was judged true, its late records widening the allowance: now false."""
    n, per_step = 8, 369
    run = with_(crash_run(checkpointing=False, n=n), checkpointing=True)
    run = with_(run, ledger=tuple(replace(e, prompt_tokens=per_step - 50) for e in run.ledger),
                golden=replace(run.golden, tokens_billed=per_step * n,
                               step_tokens={k: per_step for k in range(n)}))
    verdict = bounded_waste.check(run)
    assert verdict.valid == "false", verdict
    assert f"> in-flight allowance {per_step} " in verdict.details
