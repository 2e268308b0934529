"""durable sleep: a worker killed while its agent waits out a cool-down.

Agents wait: a rate limit's reset, a provider's Retry-After, a poll interval. A runtime that
makes the wait durable records when it ends, so an execution recovered in the middle wakes when
the first one would have: it neither waits the whole cool-down again from its recovery (time
lost, on every crash) nor skips what is left of it (the rate limit it was waiting out).

The research agent waits ``SLEEP_S`` after turn 2's tool (``ResearchParams.cooldown_s``,
``AgentContext.sleep``: DBOS.sleep, Temporal's workflow.sleep, a recorded wake-up time on the
reference runtime and LangGraph). Its worker is SIGKILLed ``INTO_SLEEP_S`` into the wait and
restarted. Asserted, from the provider's evidence (the tool log and the LLM ledger) only:

- every promised verdict holds;
- the fault landed inside the wait;
- the next LLM call (turn 3) came no earlier than the wait's end: what was left was waited out;
- and it came less than ``SLEEP_S`` after the kill: the recovered execution did not wait the
  whole cool-down again (that would put it at least ``SLEEP_S`` after the kill, on any machine).

A SUT whose sleep is not durable (``SutDescription.durable_sleep``: the checkpointing-off twins,
the plain loop) skips with its own reason.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness import (
    SUITE_PARAMS,
    KillFault,
    TrialRunner,
    Trigger,
    get_sut,
    research_trial,
)

pytestmark = [pytest.mark.xdist_group("durable_sleep"), pytest.mark.durabench_case_s(50)]

SLEEP_S = 20.0
"""The cool-down. Long enough that a recovery (a restart and its replay: 2-3 s on a quiet
machine, up to ~15 s for Temporal's worker beside a full load) fits inside it, so waiting it
again cannot be mistaken for waiting out the rest. The same order as every trial's terminate
bound (30 s after the heal), which a recovery that slow would break anyway."""
INTO_SLEEP_S = 3.0
"""How far into the cool-down the kill lands."""
PARAMS = replace(SUITE_PARAMS, cooldown_s=SLEEP_S)
COOLDOWN_STEP = PARAMS.cooldown_turn
SECOND = 1_000_000_000


def test_a_recovered_sleep_wakes_when_the_first_would_have(trials: TrialRunner, sut: str,
                                                           seed: int) -> None:
    sleep = get_sut(sut).describe().durable_sleep
    if not sleep.durable:
        pytest.skip(f"{sut}'s sleep is not durable: {sleep.how}")
    # the LLM call of the cool-down's turn is call COOLDOWN_STEP + 1 (step 0 is the plan)
    trigger = Trigger("delivered", call=COOLDOWN_STEP + 1,
                      settle_s=PARAMS.tool_latency_s + INTO_SLEEP_S)  # fmt: skip
    spec = research_trial("durable_sleep", sut, KillFault(), "mid_sleep", trigger=trigger,
                          crash_step=COOLDOWN_STEP, params=PARAMS, seed=seed)  # fmt: skip
    result = trials.run(replace(spec, timeout_s=spec.timeout_s + SLEEP_S))
    trials.require_valid(result)
    history = result.history
    root = history.workflow_ids[0]
    tools = [t for t in history.tools if t.workflow_id == root and t.step == COOLDOWN_STEP
             and t.finished_ns is not None]  # fmt: skip
    assert tools, f"no finished tool of turn {COOLDOWN_STEP} in the provider's tool log"
    slept_at = min(t.finished_ns or 0 for t in tools)
    killed_at = history.fault_at_ns
    assert killed_at is not None
    assert slept_at < killed_at < slept_at + SLEEP_S * SECOND, (
        f"the kill landed {(killed_at - slept_at) / SECOND:.1f}s after the cool-down began, "
        f"not inside it ({SLEEP_S:g}s): this trial did not test a recovered sleep")
    after = [e.received_ns for e in history.ledger
             if e.workflow_id == root and e.step == COOLDOWN_STEP + 1]  # fmt: skip
    assert after, f"turn {COOLDOWN_STEP + 1}'s LLM call never came"
    woke_at = min(after)
    assert woke_at >= slept_at + (SLEEP_S - 0.2) * SECOND, (
        f"the cool-down was cut short: turn {COOLDOWN_STEP + 1} called "
        f"{(woke_at - slept_at) / SECOND:.1f}s after it began ({SLEEP_S:g}s)")
    assert woke_at < killed_at + SLEEP_S * SECOND, (
        f"the recovered execution waited the whole cool-down again: turn {COOLDOWN_STEP + 1} "
        f"called {(woke_at - killed_at) / SECOND:.1f}s after the kill, "
        f"{(woke_at - slept_at) / SECOND:.1f}s after the cool-down of {SLEEP_S:g}s began")
