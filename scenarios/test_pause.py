"""pause: SIGSTOP the worker until a standby took its workflow over, then SIGCONT — the zombie.

When the zombie resumes, the LLM call it had in flight is answered and it tries to record the
step and go on: the fencing epoch must reject every late write (property 7: nothing a superseded
execution does takes effect after the superseding claim). Which of the two executions reaches
the store or the effect sink first is a race, so each case pins the order (see
``harness/faults/pause.py``) and says which one it tests:

- ``zombie_first`` (checkpointing on): the replacement's first LLM call is held at the provider
  until the zombie has resumed and tried to write. Cases: the zombie caught early in the loop, late
  in it, and at its last LLM step — further along than a replacement that must replay up to it.
  Every write the zombie attempts lands after the superseding claim and before the replacement's
  first write, so an unfenced step record, effect or outcome is seen on every run.
- ``replacement_first`` (checkpointing off): the zombie resumes once the replacement completed.
  Without step records nothing fences the zombie before its outcome write, so the opposite order
  — the zombie posting ``publish`` before the replacement — is a race ``reference-nockpt`` cannot
  win (it does not promise property 7) and is not run for it.

- ``outcome_zombie_first`` (checkpointing on): the zombie is stopped *past its last step record*,
  before its outcome write; the standby (on links of its own) claims and only replays, its
  answers held until the zombie, resumed, tried its outcome write. A runtime that fences step
  records but not the outcome lets the superseded execution write the workflow's outcome; the
  record's ``outcome_epoch`` shows it on every run (property 7).

- ``effect_zombie_first`` (checkpointing on): the zombie is stopped past the record of its last
  LLM step, before its effect (``publish``); the standby claims and replays, its own delivery held
  at the sink until the zombie, resumed, delivered. Only the sink's epoch fence can refuse that
  delivery (the zombie writes nothing to the store first), so a runtime that does not tell the
  sink of a new epoch before its claim commits has a superseded execution's effect applied, on
  every run (property 7).

With checkpointing the zombie's first late write (the step record) is fenced, so it makes no new
LLM call. Without it the zombie keeps calling the LLM until its outcome write is rejected —
tokens that are billed and counted as redundant.

The order and the fencing asserts follow the promise, not the checkpointing: a SUT that does not
promise property 7 (``single_active_execution``) runs ``replacement_first`` whether it
checkpoints or not. A checkpointing peer with no fencing (e.g. LangGraph) thus shows what its
zombie does: it writes on and keeps calling the LLM after the replacement finished; every token
it spends must be counted as redundant, and its promised verdicts must hold. (Under
``zombie_first`` such a zombie may finish the workflow itself while the replacement is cut
short at the trial's end, so its calls are not waste and that order proves nothing for it.)
"""

from __future__ import annotations

import pytest

from harness import (
    SUITE_PARAMS,
    PauseFault,
    TrialRunner,
    Trigger,
    WorkerOptions,
    crash_point,
    first_activity_ns,
    get_sut,
    research_trial,
    superseded_writes,
    unprovoked_takeovers,
)

pytestmark = [pytest.mark.xdist_group("pause"), pytest.mark.durabench_case_s(8)]

CALLS = SUITE_PARAMS.llm_calls
CASES = {
    "mid_step_early": crash_point("mid_step_early", calls=CALLS, tool_latency_s=0.2),
    "mid_step_late": crash_point("mid_step_late", calls=CALLS, tool_latency_s=0.2),
    "last_step": (Trigger("received", call=CALLS), CALLS - 1),
}
NOCKPT_CASES = ("mid_step_early", "mid_step_late")
LAST_STEP = SUITE_PARAMS.turns + 2
"""The research agent's last step record: ``publish``, after the last LLM call (``CALLS``)."""


def _order(sut: str) -> str:
    """``zombie_first`` tests fencing, so only a SUT that promises it (property 7) runs it."""
    fenced = "single_active_execution" in get_sut(sut).promises
    return "zombie_first" if fenced else "replacement_first"


@pytest.mark.parametrize("case", list(CASES))
def test_paused_zombie_is_fenced(trials: TrialRunner, sut: str, case: str, seed: int) -> None:
    order = _order(sut)
    if order == "replacement_first" and case not in NOCKPT_CASES:
        pytest.skip(f"{case} tests the zombie_first order, which {sut} does not promise")
    trigger, step = CASES[case]
    spec = research_trial("pause", sut, PauseFault(order=order), f"{case}-{order}",
                          trigger=trigger, crash_step=step, recovery="standby", seed=seed)
    result = trials.run(spec)
    trials.require_valid(result)
    history = result.history
    root = history.workflows[0]
    first = first_activity_ns(history, root.workflow_id)
    assert root.epoch >= 2 and len(first) >= 2, (
        f"the standby should have taken over (epochs seen {sorted(first)})"
    )
    assert not unprovoked_takeovers(history), unprovoked_takeovers(history)
    if "single_active_execution" in get_sut(sut).promises:
        late = superseded_writes(history)
        assert not late, f"the zombie's writes took effect after the takeover: {late}"
        zombie_calls = [e for e in history.trial_ledger()
                        if e.attempt == 1 and e.received_ns > first[2]]  # fmt: skip
        assert not zombie_calls, "the zombie's step write is fenced before any new LLM call"
    else:
        zombie_calls = [e for e in history.trial_ledger()
                        if e.attempt == 1 and e.received_ns > (history.healed_ns or 0)]
        redundant = result.figures.redundant_tokens or 0
        assert redundant >= sum(e.tokens for e in zombie_calls), (
            "whatever the unfenced zombie spends is billed and must be counted as redundant"
        )


def _skip_unless_past_a_record_applies(sut: str, order: str, write: str) -> None:
    """Skip a SUT that a zombie stopped past a step record tells nothing about: it records no
    steps, does not promise property 7, or has no natively claiming standby."""
    info = get_sut(sut)
    if not info.checkpointing:
        pytest.skip(f"{sut} records no steps: a zombie is never past a step record (and "
                    "property 7 is not promised)")
    if "single_active_execution" not in info.promises:
        pytest.skip(f"this order tests property 7 (single active execution), which {sut} does "
                    f"not promise: nothing fences its zombie's {write}")
    if "standby" not in info.recovery_policies:
        pytest.skip(f"{sut}: {order} needs a natively claiming standby")


def test_zombie_past_its_last_step_cannot_write_the_outcome(
    trials: TrialRunner, sut: str, seed: int
) -> None:
    """A zombie further along than its replacement: every step recorded, its outcome not yet."""
    _skip_unless_past_a_record_applies(sut, "outcome_zombie_first", "outcome write")
    # While it is caught, the zombie hears of every write 2 s late, heartbeats included: a 5 s
    # lease outlasts that, so nobody takes over before the zombie is stopped.
    options = WorkerOptions(lease_s=5.0)
    fault = PauseFault(order="outcome_zombie_first", last_step=LAST_STEP,
                       lease_s=options.lease_s, ack_delay_ms=2000)  # fmt: skip
    spec = research_trial("pause", sut, fault, "past_last_step-outcome_zombie_first",
                          trigger=Trigger("received", call=CALLS), crash_step=LAST_STEP,
                          recovery="standby", own_links=True, options=options,
                          seed=seed)  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    history = result.history
    root = history.workflows[0]
    assert root.epoch >= 2, f"the standby should have claimed the workflow (epoch {root.epoch})"
    late = superseded_writes(history)
    assert not late, f"the zombie's writes took effect after the takeover: {late}"
    assert root.outcome_epoch in (None, root.epoch), (
        f"the outcome was written by epoch {root.outcome_epoch}, not by the owner {root.epoch}")
    zombie_calls = [e for e in history.trial_ledger() if e.attempt == 1 and e.step == LAST_STEP]
    assert not zombie_calls and result.figures.redundant_tokens == 0, (
        "every step was recorded before the takeover: the replacement replays, it pays nothing")


def test_zombie_past_its_last_step_cannot_apply_its_effect(
    trials: TrialRunner, sut: str, seed: int
) -> None:
    """A zombie stopped between the record of its last LLM step and its effect: once resumed,
    its delivery reaches the sink after the superseding claim and before the replacement's own
    (``effect_zombie_first``), so only the sink's epoch fence can refuse it."""
    _skip_unless_past_a_record_applies(sut, "effect_zombie_first", "effect")
    options = WorkerOptions(lease_s=5.0)  # outlasts the 2 s ack delay plus a heartbeat
    fault = PauseFault(order="effect_zombie_first", last_step=LAST_STEP - 1,
                       lease_s=options.lease_s, ack_delay_ms=2000)  # fmt: skip
    spec = research_trial("pause", sut, fault, "past_last_step-effect_zombie_first",
                          trigger=Trigger("received", call=CALLS), crash_step=LAST_STEP,
                          recovery="standby", options=options, seed=seed)  # fmt: skip
    result = trials.run(spec)
    history = result.history
    root = history.workflows[0]
    zombie = [f for f in history.effects
              if f.workflow_id == root.workflow_id and f.attempt is not None
              and f.attempt < root.epoch]  # fmt: skip
    assert zombie, "the zombie never delivered its effect: the order did not land"
    assert all(not f.applied for f in zombie), (
        f"the superseded execution's effect {zombie[0].name!r} was applied after epoch "
        f"{root.epoch} claimed the workflow: delivered by epoch(s) "
        f"{sorted({f.attempt for f in zombie if f.applied})} (the new epoch was not announced "
        "to the sink before the claim committed)")
    trials.require_valid(result)
    assert root.epoch >= 2, f"the standby should have claimed the workflow (epoch {root.epoch})"
    applied = [f for f in history.effects if f.workflow_id == root.workflow_id and f.applied]
    assert [f.attempt for f in applied] == [root.epoch], (
        f"the effect is applied once, by the owner (epoch {root.epoch}): {applied}")
    assert result.figures.redundant_tokens == 0, (
        "every LLM step was recorded before the takeover: the replacement replays, it pays nothing")
