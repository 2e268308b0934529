"""Figures of one trial: what the fault cost in tokens, money and time. Pure functions of a History.

The definitions are the ones in ARCHITECTURE.md ("Figures"); this module pins down the details:

- Only the trial's workflows count (``History.trial_ledger()``: roots and their children).
- ``tokens_billed`` / ``calls`` / ``cost_usd``: sums over *every* ledger entry of the trial,
  including requests whose response never reached the worker (``delivered=False``) and requests
  the provider rejected (they bill 0 tokens but are still calls).
- ``redundant_*`` = figure - the golden run's figure; None without a golden baseline.
- "before the fault" means at or before ``fault_at`` (``<=``); "after" means strictly after.
- ``frontier``: the highest logical step with a ledger entry that was delivered and answered at or
  before ``fault_at``; -1 when none was; None when no fault fired.
- Activity = an LLM request (ledger ``received_ns``) or a step record (``recorded_ns``). The
  *faulted execution* of a workflow is the (executor, attempt) of its latest activity at or before
  ``fault_at``. An activity after ``fault_at`` is **live** when it comes from a newer attempt or a
  different executor than the faulted execution, or — for the faulted execution itself — when it
  happens after the last heal and that executor's worker did not exit after the fault (a paused or
  partitioned worker that carries on once healed). This keeps requests a killed worker had already
  put on the wire from counting as recovery.
- ``time_to_resume``: first live activity after ``fault_at``, minus ``fault_at``.
- ``time_to_recover``: first live LLM request after ``fault_at`` whose logical step is beyond the
  frontier, minus ``fault_at``. Always >= ``time_to_resume`` when both exist.
- ``duration``: from the earliest ``workflow_started`` event (else ``History.started_ns`` when
  non-zero) to the latest ``updated_ns`` of the trial's root WorkflowRecords; None when a root has
  no record or is not terminal. ``completion_delay`` = duration - golden duration.
- Times are seconds (float); None where undefined (no fault, no golden, never resumed, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from harness.history import TERMINAL_STATUSES, History, JSONValue

__all__ = [
    "Activity",
    "Figures",
    "compute_figures",
    "faulted_executions",
    "frontier",
    "in_flight_calls",
    "in_flight_steps",
    "live_activities",
    "trial_duration_s",
]

_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Figures:
    """Per-trial figures; see the module docstring for the exact definitions."""

    tokens_billed: int
    calls: int
    cost_usd: float
    redundant_tokens: int | None
    redundant_calls: int | None
    redundant_cost_usd: float | None
    fault_at_ns: int | None
    frontier: int | None
    time_to_resume_s: float | None
    time_to_recover_s: float | None
    completion_delay_s: float | None
    duration_s: float | None

    def as_json(self) -> dict[str, JSONValue]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Activity:
    """One sign of a workflow making progress: an LLM request or a step record."""

    at_ns: int
    kind: str
    """``"llm_request"`` or ``"step_record"``."""
    workflow_id: str
    executor: str | None
    attempt: int | None
    step: int | None


def compute_figures(history: History) -> Figures:
    """All figures of one trial."""
    ledger = history.trial_ledger()
    tokens = sum(e.tokens for e in ledger)
    cost = sum(e.cost_usd for e in ledger)
    golden = history.golden
    fault_at = history.fault_at_ns
    duration = trial_duration_s(history)
    return Figures(
        tokens_billed=tokens,
        calls=len(ledger),
        cost_usd=cost,
        redundant_tokens=None if golden is None else tokens - golden.tokens_billed,
        redundant_calls=None if golden is None else len(ledger) - golden.calls,
        redundant_cost_usd=None if golden is None else cost - golden.cost_usd,
        fault_at_ns=fault_at,
        frontier=frontier(history),
        time_to_resume_s=_time_to_resume_s(history),
        time_to_recover_s=_time_to_recover_s(history),
        completion_delay_s=(
            None if golden is None or duration is None else duration - golden.duration_s
        ),
        duration_s=duration,
    )


def frontier(history: History) -> int | None:
    """Highest logical step delivered at or before the fault; -1 if none; None if no fault."""
    fault_at = history.fault_at_ns
    if fault_at is None:
        return None
    delivered = [
        e.step
        for e in history.trial_ledger()
        if e.step is not None
        and e.delivered
        and e.responded_ns is not None
        and e.responded_ns <= fault_at
    ]
    return max(delivered, default=-1)


def in_flight_calls(history: History) -> frozenset[tuple[str, int]]:
    """(workflow, logical step) pairs whose LLM call the fault caught in flight.

    A pair is in flight when a request for it was received at or before ``fault_at`` and its
    result was not yet safe at ``fault_at``: with checkpointing, no llm step record for it was
    recorded at or before ``fault_at``; without, no response for it was delivered by then.
    Empty when no fault fired.
    """
    fault_at = history.fault_at_ns
    if fault_at is None:
        return frozenset()
    requested: set[tuple[str, int]] = {
        (e.workflow_id, e.step)
        for e in history.trial_ledger()
        if e.workflow_id is not None and e.step is not None and e.received_ns <= fault_at
    }
    safe: set[tuple[str, int]]
    if history.checkpointing:
        safe = {
            (r.workflow_id, r.step)
            for r in history.steps
            if r.kind == "llm" and r.step is not None and r.recorded_ns <= fault_at
        }
    else:
        safe = {
            (e.workflow_id, e.step)
            for e in history.trial_ledger()
            if e.workflow_id is not None
            and e.step is not None
            and e.delivered
            and e.responded_ns is not None
            and e.responded_ns <= fault_at
        }
    return frozenset(requested - safe)


def in_flight_steps(history: History) -> frozenset[int]:
    """Logical steps of :func:`in_flight_calls` (workflow ids dropped)."""
    return frozenset(step for _, step in in_flight_calls(history))


def trial_duration_s(history: History) -> float | None:
    """Earliest workflow start to the last terminal update of the root workflows, in seconds."""
    started = [e.at_ns for e in history.events_of("workflow_started")]
    start = min(started) if started else (history.started_ns or None)
    records = {w.workflow_id: w for w in history.workflows}
    roots = [records.get(wf) for wf in history.workflow_ids]
    if start is None or not roots:
        return None
    ends: list[int] = []
    for root in roots:
        if root is None or root.status not in TERMINAL_STATUSES:
            return None
        ends.append(root.updated_ns)
    return (max(ends) - start) / _NS_PER_S


# -- resume and recovery ---------------------------------------------------------------------------

def _activities(history: History) -> Iterator[Activity]:
    ids = set(history.workflow_ids) | {w.workflow_id for w in history.workflows}
    for e in history.trial_ledger():
        if e.workflow_id is not None:
            yield Activity(e.received_ns, "llm_request", e.workflow_id, e.executor, e.attempt,
                           e.step)
    for r in history.steps:
        if r.workflow_id in ids:
            yield Activity(r.recorded_ns, "step_record", r.workflow_id, r.executor, r.epoch,
                           r.step)


def faulted_executions(history: History) -> dict[str, tuple[str | None, int | None]]:
    """Workflow -> (executor, attempt) of its latest activity at or before the fault."""
    fault_at = history.fault_at_ns
    if fault_at is None:
        return {}
    latest: dict[str, Activity] = {}
    for act in _activities(history):
        if act.at_ns <= fault_at:
            best = latest.get(act.workflow_id)
            if best is None or (act.at_ns, act.attempt or 0) >= (best.at_ns, best.attempt or 0):
                latest[act.workflow_id] = act
    return {wf: (a.executor, a.attempt) for wf, a in latest.items()}


def _exited_executors(history: History, fault_at: int) -> frozenset[str]:
    """Executors whose worker exited at or after the fault."""
    by_worker = {e.worker: e.executor for e in history.events_of("worker_started") if e.worker}
    exited: set[str] = set()
    for e in history.events_of("worker_exited"):
        # The harness stops every worker when the trial ends; that is no death caused by the fault.
        if e.at_ns < fault_at or e.detail.get("stopped_by") == "teardown":
            continue
        executor = e.executor or (by_worker.get(e.worker) if e.worker else None)
        if executor is not None:
            exited.add(executor)
    return frozenset(exited)


def live_activities(history: History) -> tuple[Activity, ...]:
    """Activities strictly after the fault by a live execution, in time order (see module doc)."""
    fault_at = history.fault_at_ns
    if fault_at is None:
        return ()
    faulted = faulted_executions(history)
    healed = history.healed_ns
    exited = _exited_executors(history, fault_at)
    live: list[Activity] = []
    for act in _activities(history):
        if act.at_ns <= fault_at:
            continue
        hit = faulted.get(act.workflow_id)
        if hit is None:
            live.append(act)
            continue
        hit_executor, hit_attempt = hit
        newer = act.attempt is not None and hit_attempt is not None and act.attempt > hit_attempt
        same_after_heal = (
            healed is not None and act.at_ns > healed and act.executor not in exited
        )
        if newer or act.executor != hit_executor or same_after_heal:
            live.append(act)
    return tuple(sorted(live, key=lambda a: a.at_ns))


def _time_to_resume_s(history: History) -> float | None:
    fault_at = history.fault_at_ns
    live = live_activities(history)
    if fault_at is None or not live:
        return None
    return (live[0].at_ns - fault_at) / _NS_PER_S


def _time_to_recover_s(history: History) -> float | None:
    fault_at = history.fault_at_ns
    front = frontier(history)
    if fault_at is None or front is None:
        return None
    beyond = [
        a.at_ns
        for a in live_activities(history)
        if a.kind == "llm_request" and a.step is not None and a.step > front
    ]
    return (min(beyond) - fault_at) / _NS_PER_S if beyond else None
