from __future__ import annotations

import pytest
from checker_histories import clean_run, crash_run, event, led, rec, tool, with_

from harness.checkers import no_replay
from harness.history import History, Validity

CRASH = crash_run()

CASES: list[tuple[str, History, Validity, str]] = [
    ("resumes from the checkpoint", CRASH, "true", "none of the 2"),
    ("checkpointed step 1 requested again", with_(
        CRASH, ledger=(*CRASH.ledger, led(1, 3.9, attempt=2, executor="w2"))),
     "false", "logical llm step 1"),
    # Tool executions are harness evidence too: a tool step recorded before the fault and run
    # again after it is a replay, although it costs no tokens.
    ("checkpointed tool step executed again", with_(
        CRASH, steps=(*CRASH.steps, rec(1, 1.8, seq=20, kind="tool")),
        tools=(tool(1, 1.55), tool(1, 3.2, attempt=2, executor="w2"))),
     "false", "logical tool step 1, checkpointed at fault-0.400s, was executed again 1 time"),
    ("the in-flight tool executed again is no replay", with_(
        CRASH, steps=(*CRASH.steps, rec(1, 1.8, seq=20, kind="tool")),
        tools=(tool(1, 1.55), tool(2, 2.1, finished=None),
               tool(2, 3.2, attempt=2, executor="w2"))),
     "true", "none of the 3"),
    # A zombie (attempt 1) still running after attempt 2 took over (its first call at 3.0) is
    # superseded: what it requests again is waste, not the runtime replaying its checkpoints.
    ("a superseded execution's request is no replay", with_(
        CRASH, ledger=(*CRASH.ledger, led(1, 3.5, attempt=1, executor="w1"))),
     "true", "none of the 2"),
    # The same request before any newer epoch had claimed is the owner running a recorded step.
    ("the owner requesting a recorded step again is a replay", with_(
        CRASH, ledger=(*CRASH.ledger, led(1, 2.1, attempt=1, executor="w1"))),
     "false", "logical llm step 1"),
    ("two step records share a seq", with_(
        CRASH, steps=(*CRASH.steps, rec(9, 4.8, seq=2, kind="tool", epoch=2, executor="w2"))),
     "false", "share seq 2"),
    ("llm step recorded twice", with_(
        CRASH, steps=(*CRASH.steps, rec(3, 4.9, seq=10, epoch=2, executor="w2"))),
     "false", "recorded 2 times"),
    ("fault before any checkpoint", with_(
        clean_run(), events=(*clean_run().events, event("fault_fired", 0.3))),
     "true", "nothing to replay"),
    ("fault never fired", clean_run(), "unknown", "never fired"),
    ("checkpointing off", crash_run(checkpointing=False), "unknown", "checkpointing is off"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_no_replay(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = no_replay.check(trial)
    assert verdict.property == "no_replay"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
