"""History queries of scenario files, on hand-written histories."""

from __future__ import annotations

import pytest

from harness.faults import KillFault
from harness.history import EffectRecord, HarnessEvent, History, LedgerEntry, StepRecord
from harness.scenario import (
    fault_firings,
    known_finding,
    queue_overruns,
    research_trial,
    steps_in_flight,
    steps_reached,
    store_link,
    superseded_writes,
    unprovoked_takeovers,
)
from harness.sut import WorkerOptions

WF = "wf"


def _call(at: int, attempt: int, executor: str, step: int = 0) -> LedgerEntry:
    return LedgerEntry(f"r{at}", WF, step, attempt, executor, "m", at, at + 1, 200, 1, 1, 0.0,
                       True)  # fmt: skip


def _step(at: int, epoch: int, executor: str, seq: int = 0) -> StepRecord:
    return StepRecord(WF, seq, "llm", "llm", seq, executor, epoch, at)


def _history(ledger: tuple[LedgerEntry, ...] = (), steps: tuple[StepRecord, ...] = (),
             effects: tuple[EffectRecord, ...] = (),
             events: tuple[HarnessEvent, ...] = ()) -> History:  # fmt: skip
    return History("t", (WF,), True, ledger=ledger, steps=steps, effects=effects, events=events)


@pytest.mark.parametrize(("ledger", "steps", "effects", "breaches"), [
    # the zombie (epoch 1) records after epoch 2's first request: a breach
    ((_call(10, 1, "a"), _call(20, 2, "b")), (_step(30, 1, "a"),), (), 1),
    # recorded before the takeover showed any activity: fine
    ((_call(10, 1, "a"), _call(20, 2, "b")), (_step(15, 1, "a"),), (), 0),
    # an applied effect of the zombie after the takeover: a breach; a duplicate (not applied): fine
    ((_call(20, 2, "b"),), (), (EffectRecord("k", "publish", WF, "a", 1, 30, True),), 1),
    ((_call(20, 2, "b"),), (), (EffectRecord("k", "publish", WF, "a", 1, 30, False),), 0),
])  # fmt: skip
def test_superseded_writes(ledger: tuple[LedgerEntry, ...], steps: tuple[StepRecord, ...],
                           effects: tuple[EffectRecord, ...], breaches: int) -> None:  # fmt: skip
    assert len(superseded_writes(_history(ledger, steps, effects))) == breaches


def _died(executor: str) -> HarnessEvent:
    return HarnessEvent(5, "worker_exited", executor=executor, detail={"stopped_by": "died"})


@pytest.mark.parametrize(("events", "found"), [
    ((), 1),                                          # "a" was healthy: its work was stolen
    ((_died("a"),), 0),                               # "a" died: a recovery
    ((HarnessEvent(5, "fault_fired", executor="a"),), 0),  # "a" was paused or evicted
])  # fmt: skip
def test_unprovoked_takeovers(events: tuple[HarnessEvent, ...], found: int) -> None:
    history = _history((_call(10, 1, "a"), _call(20, 2, "b")), events=events)
    assert len(unprovoked_takeovers(history)) == found


def test_a_restart_with_the_same_executor_id_is_no_takeover_of_another() -> None:
    history = _history((_call(10, 1, "a"), _call(20, 2, "a")))
    assert unprovoked_takeovers(history) == []


def test_only_the_execution_running_at_the_takeover_is_superseded() -> None:
    # "c" ran an earlier step of epoch 1 and finished it; "a" was running at the takeover.
    history = _history((_call(5, 1, "c"), _call(10, 1, "a"), _call(20, 2, "b")),
                       events=(_died("a"),))  # fmt: skip
    assert unprovoked_takeovers(history) == []
    healthy = _history((_call(5, 1, "a"), _call(10, 1, "c"), _call(20, 2, "b")),
                       events=(_died("a"),))  # fmt: skip
    assert len(unprovoked_takeovers(healthy)) == 1, "the running execution was healthy 'c'"


def test_store_faults_aim_at_the_link_to_the_suts_durable_store() -> None:
    assert store_link("reference") == "postgres"
    assert store_link("temporal") == "temporal", "Temporal's store is its own server"


def test_known_findings_come_from_the_suts_description() -> None:
    finding = known_finding("temporal", "db_crash", "mid_step_late")
    assert finding is not None and "heartbeat timeout" in finding
    assert known_finding("temporal", "db_crash", "between_steps") is None
    assert known_finding("reference", "db_crash", "mid_step_late") is None


def test_worker_options_other_than_the_defaults_make_another_trial() -> None:
    """evict's comparison runs kill at the kill scenario's point with a 20 s lease: the same
    trial id made the report count the two as one trial and drop one of them."""
    plain = research_trial("kill", "reference", KillFault(), "mid_step_late", recovery="standby")
    longer = research_trial("kill", "reference", KillFault(), "mid_step_late", recovery="standby",
                            options=WorkerOptions(lease_s=20.0, heartbeat_s=1.0))
    assert plain.trial_id == "kill-reference-mid_step_late-standby-s0"
    assert longer.trial_id == "kill-reference-mid_step_late-standby-opt-lease20_heartbeat1-s0"
    assert plain.golden().trial_id != longer.golden().trial_id


def test_cases_that_differ_only_in_their_fault_have_different_trial_ids() -> None:
    """Issue 22: partition's link cut ``down`` and black-holed ``timeout`` at one crash point
    shared an id (14 ids named two trials each in reports/example)."""
    from scenarios.test_partition import CASES

    specs = [research_trial("partition", "reference", fault, crash)
             for crash, fault in CASES.values()]
    ids = [s.trial_id for s in specs]
    assert len(set(ids)) == len(ids), ids
    assert ids[0] == "partition-reference-between_steps-restart-s0"  # defaults: no label
    assert ids[1] == "partition-reference-between_steps-restart-fault-modetimeout-s0"


# A step's call at 10*step, its record at 10*step + 5; kill 1 at 32 (step 3 in flight), the
# restarted owner (epoch 2) calls step 3 again at 40 and is killed at 42 before recording it.
_TWO_KILLS = (
    (*tuple(_call(10 * s, 1, "a", step=s) for s in range(4)), _call(40, 2, "a", step=3)),
    tuple(_step(10 * s + 5, 1, "a", seq=s) for s in range(3)),
)


@pytest.mark.parametrize(("at", "in_flight", "reached"), [
    (2, frozenset({0}), 0),         # the first call received, not recorded yet
    (5, frozenset(), 0),            # recorded: nothing in flight
    (32, frozenset({3}), 3),        # the first kill
    (42, frozenset({3}), 3),        # the second: step 3 called twice, recorded by neither
    (-1, frozenset(), None),        # a call counts from when it was received
])  # fmt: skip
def test_steps_in_flight_and_reached_at_a_fault(at: int, in_flight: frozenset[int],
                                                reached: int | None) -> None:  # fmt: skip
    history = _history(*_TWO_KILLS)
    assert steps_in_flight(history, at) == in_flight
    assert steps_reached(history, at) == reached


def test_a_failed_step_record_leaves_its_step_in_flight() -> None:
    failed = StepRecord(WF, 0, "llm", "llm", 0, "a", 1, 5, error=True)
    assert steps_in_flight(_history((_call(1, 1, "a"),), (failed,)), 6) == frozenset({0})


def _fired(at: int, index: int | None) -> HarnessEvent:
    detail = {"fault": "kill"} if index is None else {"fault": "kill", "index": index}
    return HarnessEvent(at, "fault_fired", detail=detail)


@pytest.mark.parametrize(("events", "order"), [
    ((_fired(20, 1), _fired(10, 0)), [10, 20]),
    # an overlapping follow-up (anchor injected) fires after the first, is indexed after it
    ((_fired(10, 0), _fired(15, 1), HarnessEvent(12, "fault_healed")), [10, 15]),
    ((_fired(30, None), _fired(10, None)), [10, 30]),  # a history from before follow-ups
])  # fmt: skip
def test_fault_firings_come_in_the_order_of_their_index(events: tuple[HarnessEvent, ...],
                                                       order: list[int]) -> None:  # fmt: skip
    assert [e.at_ns for e in fault_firings(_history(events=events))] == order


def _queue_call(wf: str, executor: str, received: int, responded: int | None,
                attempt: int = 1, delivered: bool = True) -> LedgerEntry:
    return LedgerEntry(f"r-{wf}-{received}", wf, 0, attempt, executor, "m", received, responded,
                       200, 1, 1, 0.0, delivered)  # fmt: skip


@pytest.mark.parametrize(("ledger", "global_breaches", "per_executor_breaches"), [
    # one after the other on one worker: no overrun either way
    ((_queue_call("a", "w1", 0, 10), _queue_call("a", "w1", 20, 30),
      _queue_call("b", "w1", 31, 40)), 0, 0),
    # b began while a was between two of its calls on the same worker: both limits overrun
    ((_queue_call("a", "w1", 0, 10), _queue_call("a", "w1", 20, 30),
      _queue_call("b", "w1", 15, 25)), 1, 1),
    # the same overlap on two workers: the global limit is overrun, no worker's is
    ((_queue_call("a", "w1", 0, 10), _queue_call("a", "w1", 20, 30),
      _queue_call("b", "w2", 15, 25)), 1, 0),
    # a's call answered to nobody (responded None) counts from its request only
    ((_queue_call("a", "w1", 0, None), _queue_call("b", "w1", 1, 5)), 0, 0),
    # a call of no root workflow (a child's, another trial's) is not counted
    ((_queue_call("a", "w1", 0, 30), _queue_call("child", "w1", 10, 20)), 0, 0),
    # a's first execution died (its last answer never delivered); b ran before a's next one
    ((_queue_call("a", "w1", 0, 5), _queue_call("a", "w1", 8, 40, delivered=False),
      _queue_call("b", "w1", 10, 20), _queue_call("a", "w1", 21, 30, attempt=2)), 0, 0),
    # the same, but the dead execution's answer was delivered after b began: it ran still
    ((_queue_call("a", "w1", 0, 5), _queue_call("a", "w1", 8, 12),
      _queue_call("b", "w1", 10, 20), _queue_call("a", "w1", 21, 30, attempt=2)), 1, 1),
])
def test_queue_overruns_count_workflows_running_at_once(ledger: tuple[LedgerEntry, ...],
                                                        global_breaches: int,
                                                        per_executor_breaches: int) -> None:
    history = History("t", ("a", "b"), True, ledger=ledger)
    assert len(queue_overruns(history, 1, per_executor=False)) == global_breaches
    assert len(queue_overruns(history, 1, per_executor=True)) == per_executor_breaches
    assert not queue_overruns(history, 2, per_executor=False), "a limit of 2 holds both"
