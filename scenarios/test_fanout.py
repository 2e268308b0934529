"""fan-out: workers die while a ``multi_agent`` orchestrator's sub-agents (child workflows) run.

The orchestrator plans (step 0), fans out to two ``research_agent`` children (step 1), merges
their reports (step 2) and publishes (step 3); each child plans, takes two tool-using turns and
reports (its own steps 0-3). The trigger holds the first child LLM call of logical step 1 at the
provider -- no orchestrator call has that step -- and, while it is held, kills:

- ``child``:  the worker that made the held call (the child's worker);
- ``parent``: the worker that owns the orchestrator (it is waiting on its children).

Under ``restart`` one worker runs everything, so both kills take parent and children down
together; under ``standby`` the children may run on either worker, so the other one may live on.
Every placement must pass. Asserts: every promised verdict; the killed worker is the one the case
names; with checkpointing, per (workflow, step) from the ledger, nothing was billed beyond the
golden run except the steps in flight at the kill, each at most once more
(``waste_evidence.excess_problems``), and the orchestrator's plan (done before any child existed)
not at all; without it, a killed orchestrator plans again. The trigger records both executors
(``child_executor``, ``parent_executor``), so a report shows which placement each run had.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from waste_evidence import billed, calls, excess_problems

from harness import (
    Fired,
    History,
    JSONValue,
    KillFault,
    Recovery,
    RecoveryPolicy,
    TrialRunner,
    TrialSpec,
    Trigger,
    TriggerContext,
    TriggerNeverFired,
    canonical_params,
    get_sut,
)

# One worker runs the whole module: its tests read their golden run's history, which only
# the process that ran it holds.
pytestmark = [pytest.mark.xdist_group("fanout"), pytest.mark.durabench_case_s(5)]

FANOUT_PARAMS: dict[str, JSONValue] = {"agents": 2, "child_turns": 2, "tokens_per_turn": 120,
                                       "tool_latency_s": 0.1}
CHILD_STEP = 1
"""A child's first research turn: the orchestrator has no LLM call with this logical step."""


@dataclass(frozen=True)
class ChildCallHeld(Trigger):
    """Hold the first LLM call of logical step ``step`` made by a child of the trial's workflow;
    fire once it is held, naming the executor to fault: the child's or the orchestrator's.

    Child workflow ids are the SUT's business, so the provider rule matches the logical step
    alone (no orchestrator call has it, and a trial's provider serves only that trial while it
    runs); ``wait`` then checks that the held call belongs to a child of the trial's workflow.
    ``kind="received"`` and ``call`` only satisfy the base class; ``call`` is not used."""

    victim: str = "child"

    def to_json(self) -> dict[str, JSONValue]:
        return {"kind": "child_call_held", "step": self.step, "victim": self.victim}

    def arm(self, ctx: TriggerContext) -> None:
        ctx.started_monotonic = time.monotonic()
        ctx.rule_id = ctx.provider.add_rule("hold", step=self.step)

    def wait(self, ctx: TriggerContext, timeout_s: float) -> Fired:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            family = ctx.sut.workflows([ctx.workflow_id])
            owner = next((w.executor for w in family if w.workflow_id == ctx.workflow_id), None)
            for child in (w.workflow_id for w in family if w.parent_id == ctx.workflow_id):
                held = [e for e in ctx.provider.ledger(child)
                        if e.step == self.step and e.responded_ns is None]
                if held:
                    executor = held[0].executor if self.victim == "child" else owner
                    return Fired(time.time_ns(), executor, {
                        "held_workflow": child, "step": self.step, "victim": self.victim,
                        "child_executor": held[0].executor, "parent_executor": owner})
            time.sleep(0.02)
        raise TriggerNeverFired(f"no child of {ctx.workflow_id} made an LLM call of step "
                                f"{self.step} within {timeout_s:.1f}s")


def fanout_spec(sut: str, victim: str, policy: str, seed: int) -> TrialSpec:
    return TrialSpec(
        scenario="fanout", sut=sut, workload="multi_agent",
        params_json=canonical_params(FANOUT_PARAMS), fault=KillFault(),
        trigger=ChildCallHeld("received", call=1, step=CHILD_STEP, victim=victim),
        trigger_name=f"{victim}_dies", crash_step=CHILD_STEP,
        recovery=Recovery(policy_of(policy)), seed=seed)


def policy_of(name: str) -> RecoveryPolicy:
    return "standby" if name == "standby" else "restart"


def golden_history(trials: TrialRunner, spec: TrialSpec) -> History:
    history = trials.golden.history(spec)
    assert history is not None, f"no golden run recorded for {spec.trial_id}"
    return history


@pytest.mark.parametrize("policy", ["restart", "standby"])
@pytest.mark.parametrize("victim", ["child", "parent"])
def test_fanout_worker_dies(trials: TrialRunner, sut: str, victim: str, policy: str,
                            seed: int) -> None:
    result = trials.run(fanout_spec(sut, victim, policy, seed))
    trials.require_valid(result)
    history = result.history
    fired = history.events_of("trigger_fired")
    faulted = history.events_of("fault_fired")
    assert fired and faulted, "the kill never fired"
    expected = fired[0].detail[f"{victim}_executor"]
    assert faulted[0].executor == expected, (
        f"the {victim}'s worker ({expected}) should have been killed, not {faulted[0].executor}")
    golden = golden_history(trials, result.spec)
    if get_sut(sut).checkpointing:
        problems = excess_problems(history, golden)
        assert not problems or "bounded_waste" not in get_sut(sut).promises, (
            f"waste beyond the steps in flight, per (workflow, step): {problems}")
        # The plan was done before any child existed: no allowance for it, whatever the ledger's
        # in-flight rule grants the waiting orchestrator.
        assert billed(history)[("lead", 0)] == billed(golden)[("lead", 0)], (
            "with checkpointing the orchestrator's plan must not be billed again")
    elif victim == "parent" or (fired[0].detail["child_executor"]
                                == fired[0].detail["parent_executor"]):
        # Killing the child's worker takes the orchestrator down too only when both ran there.
        assert calls(history)[("lead", 0)] > calls(golden)[("lead", 0)], (
            "without checkpointing the killed orchestrator should have planned again")
