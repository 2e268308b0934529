"""``scenarios/waste_evidence.py``: waste per (workflow, logical step) from the ledger, with
workflows matched to the golden run by role. Hand-written histories."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.history import HarnessEvent, History, LedgerEntry, WorkflowRecord

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scenarios"))
from waste_evidence import excess_problems, in_flight, roles

S = 1_000_000_000


def led(wf: str, step: int, t: float, tokens: int = 100, status: int = 200) -> LedgerEntry:
    return LedgerEntry(request_id=f"{wf}-{step}-{t}", workflow_id=wf, step=step, attempt=1,
                       executor="w1", model="m", received_ns=int(t * S),
                       responded_ns=int((t + 0.5) * S), status=status, prompt_tokens=tokens,
                       completion_tokens=0, cost_usd=0.0, delivered=True)


def wf(wid: str, parent: str | None, created: float, updated: float = 99.0) -> WorkflowRecord:
    return WorkflowRecord(workflow_id=wid, parent_id=parent, status="SUCCESS", executor="w1",
                          epoch=1, output=None, recovery_attempts=0, created_ns=int(created * S),
                          updated_ns=int(updated * S))


def history(root: str, ledger: list[LedgerEntry], workflows: list[WorkflowRecord],
            fault_at: float | None = None) -> History:
    events = () if fault_at is None else (HarnessEvent(int(fault_at * S), "fault_fired"),)
    return History(trial_id="t", workflow_ids=(root,), checkpointing=True, ledger=tuple(ledger),
                   workflows=tuple(workflows), events=events)


def golden() -> History:
    return history("g", [led("g", 0, 0), led("g", 2, 9), led("g:b", 0, 1), led("g:a", 0, 2),
                         led("g:a", 1, 3, tokens=200)],
                   [wf("g", None, 0), wf("g:b", "g", 1, updated=2), wf("g:a", "g", 1.5)])


def test_children_are_matched_by_creation_order_not_by_id() -> None:
    assert roles(golden()) == {"g": "lead", "g:b": "lead/0", "g:a": "lead/1"}


def test_in_flight_is_the_latest_call_per_unfinished_workflow() -> None:
    trial = history("t", [led("t", 0, 0), led("t:x", 0, 1), led("t:y", 0, 2), led("t:y", 1, 3)],
                    [wf("t", None, 0), wf("t:x", "t", 1, updated=1.6), wf("t:y", "t", 1.5)],
                    fault_at=3.2)
    assert in_flight(trial) == {("lead", 0), ("lead/1", 1)}  # lead/0 had finished


def test_only_steps_in_flight_may_be_billed_again_and_only_once() -> None:
    workflows = [wf("t", None, 0), wf("t:x", "t", 1, updated=2), wf("t:y", "t", 1.5)]
    base = [led("t", 0, 0), led("t:x", 0, 1), led("t:y", 0, 2), led("t:y", 1, 3, tokens=200)]
    rest = [led("t:y", 1, 4, tokens=200), led("t", 2, 9)]
    once = history("t", base + rest, workflows, fault_at=3.2)
    assert excess_problems(once, golden()) == []
    twice = history("t", [*base, *rest, led("t:y", 1, 5, tokens=200)], workflows, fault_at=3.2)
    assert excess_problems(twice, golden()) == [
        "lead/1 step 1: billed 600 tokens vs golden 200 (+400), allowance 200 (in flight)"]
    replayed = history("t", [*base, *rest, led("t:x", 0, 6)], workflows, fault_at=3.2)
    assert excess_problems(replayed, golden()) == [
        "lead/0 step 0: billed 200 tokens vs golden 100 (+100), allowance 0 (not in flight)"]
    failed = history("t", [*base, *rest, led("t:x", 0, 6, status=500)], workflows, fault_at=3.2)
    assert excess_problems(failed, golden()) == []  # a failed call is a retry's cost


def test_a_call_in_transit_from_the_killed_execution_is_in_flight() -> None:
    # t:y's step-1 call left the worker before its kill and reached the provider 2 ms after
    # fault_at; t:x's came later from the replacement (another attempt): not in flight.
    def of(e: LedgerEntry, attempt: int) -> LedgerEntry:
        return LedgerEntry(**{**e.__dict__, "attempt": attempt})

    workflows = [wf("t", None, 0), wf("t:x", "t", 1), wf("t:y", "t", 1.5)]
    ledger = [led("t", 0, 0), led("t:x", 0, 1), led("t:y", 0, 2), led("t:y", 1, 3.002),
              of(led("t:x", 1, 4), 2)]
    trial = history("t", ledger, workflows, fault_at=3.0)
    died = HarnessEvent(int(3.05 * S), "worker_exited", executor="w1",
                        detail={"stopped_by": "died"})
    trial = History(trial_id="t", workflow_ids=("t",), checkpointing=True, ledger=trial.ledger,
                    workflows=trial.workflows, events=(*trial.events, died))
    assert in_flight(trial) == {("lead", 0), ("lead/0", 0), ("lead/1", 1)}
    alive = history("t", ledger, workflows, fault_at=3.0)
    assert ("lead/1", 1) not in in_flight(alive), "a live worker's later call is no transit"


def test_the_checker_counts_a_call_in_transit_from_the_killed_execution_too() -> None:
    """``harness.figures.in_flight_calls`` (bounded_waste's allowance) applies the same rule as
    the scenarios' ``in_flight``: CI failed a fan-out trial whose sibling child's call reached the
    provider 1 ms after ``fault_at`` (560 redundant tokens > 533 allowed)."""
    from harness.figures import in_flight_calls

    def of(e: LedgerEntry, attempt: int) -> LedgerEntry:
        return LedgerEntry(**{**e.__dict__, "attempt": attempt})

    workflows = [wf("t", None, 0), wf("t:x", "t", 1), wf("t:y", "t", 1.5)]
    ledger = [led("t", 0, 0), led("t:x", 0, 1), led("t:y", 0, 2), led("t:y", 1, 3.001),
              of(led("t:x", 1, 4), 2)]
    alive = history("t", ledger, workflows, fault_at=3.0)
    assert in_flight_calls(alive) == {("t", 0), ("t:x", 0), ("t:y", 0)}
    died = HarnessEvent(int(3.05 * S), "worker_exited", executor="w1",
                        detail={"stopped_by": "died"})
    killed = History(trial_id="t", workflow_ids=("t",), checkpointing=True, ledger=alive.ledger,
                     workflows=alive.workflows, events=(*alive.events, died))
    assert in_flight_calls(killed) == {("t", 0), ("t:x", 0), ("t:y", 1)}
