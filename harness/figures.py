"""Figures of one trial: what the fault cost in tokens, money and time. Pure functions of a History.

The definitions are the ones in docs/architecture.md ("Figures"); this module pins down the
details:

- Only the trial's workflows count (``History.trial_ledger()`` / ``trial_tools()``: roots and
  their children).
- ``tokens_billed`` / ``calls`` / ``cost_usd``: sums over *every* ledger entry of the trial,
  including requests whose response never reached the worker (``delivered=False``) and requests
  the provider rejected (they bill 0 tokens but are still calls).
- ``tool_executions``: tool executions in the provider's tool log (started, finished or not).
- ``redundant_*`` = figure - the golden run's figure; None without a golden baseline (for
  ``redundant_tool_calls``: also None when the golden run's tool count is unknown), and None
  when a root was given up on (its record terminal, not SUCCESS: a poisoned workflow) or never
  finished (its record still not terminal when the trial ended: a stranded workflow): it did
  less than the golden run's work, so the difference would count work never done as saved. A
  re-executed tool costs no tokens; ``redundant_tool_calls`` is how redundant tool work is
  counted.
- "before the fault" means at or before ``fault_at`` (``<=``); "after" means strictly after.
- Steps are identified by (workflow, logical step). :func:`frontiers` gives, per workflow of the
  trial, the highest logical step with a ledger entry delivered and answered at or before
  ``fault_at`` (-1 when none). The figure ``frontier`` is the first root's.
- :func:`in_flight_calls` (the bounded_waste allowance) is judged from the ledger only: per
  workflow not terminal at ``fault_at``, the highest logical step whose LLM call was received at
  or before ``fault_at`` -- its successor's call was not (the workload's steps are sequential).
- Activity = an LLM request (ledger ``received_ns``), a resumed LLM request (a background response
  retrieved by a newer execution than the one that made it: ``resumed_ns``, attributed to
  ``resumed_attempt``; it took an answer, so it is answered), a tool execution (``started_ns``) or
  a step record (``recorded_ns``). The *faulted execution* of a workflow is the (executor,
  attempt) of its latest activity at or before ``fault_at``. An activity after ``fault_at`` is
  **live** when it comes from a newer attempt or a different executor than the faulted execution,
  or -- for the faulted execution itself -- when the fault does not hold its worker
  (:data:`HOLDING_FAULTS`: ``pause`` stops the process until its heal) or the activity comes after
  the last heal, *and* either that executor's worker did not exit after the fault or the activity
  is an LLM request whose answer it took (delivered, 2xx: it was alive). A worker that rides a
  fault out (db_crash, a partition, a hung or failed provider call, an eviction's grace) is live
  throughout; a killed worker's requests that were already on the wire, and a paused worker's
  before it is resumed, are not.
- ``time_to_resume``: first live activity after ``fault_at``, minus ``fault_at``.
- ``time_to_recover`` (per root, the trial's figure is the latest over roots): the first LLM
  request (or resumed request) that is live, received after ``fault_at``, of a logical step beyond
  the root's frontier, **answered** (status 2xx and delivered to the worker: a hung, rejected or
  lost call is no recovery), and made by the **completing execution** -- the one the root's
  terminal WorkflowRecord names: ledger ``attempt`` equal to the record's ``epoch`` (or, for a
  request without an attempt, the record's ``executor``) -- minus ``fault_at``. When the
  completing execution made no such request (the fault caught the last LLM step), the root's
  terminal ``updated_ns`` stands in. Either way it is at least ``fault_at`` and at least the first
  live activity of the trial, so **time_to_recover >= time_to_resume** whenever both are defined
  (the workflow cannot be back where the fault caught it before any sign of life). None when a
  root is not terminal (never recovered) or no fault fired.
- ``duration``: from the earliest ``workflow_started`` event (else ``History.started_ns`` when
  non-zero) to the latest ``updated_ns`` of the trial's root WorkflowRecords; None when a root has
  no record or is not terminal. ``completion_delay`` = duration - golden duration: a difference
  between two separate runs (the golden run is another execution of the same workload), so
  run-to-run noise -- scheduling on a loaded machine, a runtime's poll interval landing earlier
  -- can make it negative when the fault cost less time than that noise (seen: -1.04 s for an
  evicted DBOS worker whose replacement polled sooner than the golden run's start-up). It is
  not bounded below.
- Times are seconds (float); None where undefined (no fault, no golden, never resumed, ...).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

from harness.history import TERMINAL_STATUSES, History, JSONValue, WorkflowRecord

__all__ = [
    "Activity",
    "Figures",
    "compute_figures",
    "faulted_executions",
    "frontier",
    "frontiers",
    "in_flight_calls",
    "in_flight_steps",
    "in_flight_tools",
    "live_activities",
    "trial_duration_s",
]

_NS_PER_S = 1_000_000_000
HOLDING_FAULTS = frozenset({"pause"})
"""Faults that stop the worker's process without ending it, until their heal (SIGSTOP/SIGCONT):
what its execution does before the heal is not a sign of life (requests already on the wire)."""


@dataclass(frozen=True)
class Figures:
    """Per-trial figures; the module docstring gives the exact definitions, summed up here."""

    tokens_billed: int
    """Tokens the provider billed for the trial's workflows, every ledger entry counted."""
    calls: int
    """LLM requests of the trial's workflows (rejected ones included)."""
    cost_usd: float
    """Dollars billed for them at the model's list price."""
    redundant_tokens: int | None
    """tokens_billed - the golden run's; None without a golden run."""
    redundant_calls: int | None
    """calls - the golden run's; None without a golden run."""
    redundant_cost_usd: float | None
    """cost_usd - the golden run's; None without a golden run."""
    fault_at_ns: int | None
    """When the first fault fired; None when none did."""
    frontier: int | None
    """The first root's highest logical step answered and delivered at or before the fault;
    -1 when none was; None when no fault fired."""
    time_to_resume_s: float | None
    """Fault to the first live activity (an execution the fault does not hold); None: none."""
    time_to_recover_s: float | None
    """Fault to the first live, answered request beyond the frontier by the completing
    execution (else its terminal update); >= time_to_resume_s; None: a root never finished."""
    completion_delay_s: float | None
    """duration_s - the golden run's duration (two separate runs: may be negative)."""
    duration_s: float | None
    """First workflow start to the last root's terminal update; None: a root never finished."""
    tool_executions: int = 0
    """Tool executions in the provider's tool log (started, finished or not)."""
    redundant_tool_calls: int | None = None
    """tool_executions - the golden run's; None when that is unknown."""

    def as_json(self) -> dict[str, JSONValue]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Activity:
    """One sign of a workflow making progress: an LLM request, a tool execution, a step record."""

    at_ns: int
    kind: str
    """``"llm_request"``, ``"tool_execution"`` or ``"step_record"``."""
    workflow_id: str
    executor: str | None
    attempt: int | None
    step: int | None
    answered: bool = False
    """An LLM request whose 2xx answer was delivered to the worker (it was alive to take it)."""


def compute_figures(history: History) -> Figures:
    """All figures of one trial."""
    ledger = history.trial_ledger()
    tokens = sum(e.tokens for e in ledger)
    # fsum: exact whatever the ledger's order, so a trial that paid what its golden run paid
    # has a redundant cost of exactly 0, never -7e-18
    cost = math.fsum(e.cost_usd for e in ledger)
    tools = len(history.trial_tools())
    comparable = not _short_of_golden(history)
    golden = history.golden if comparable else None  # None: nothing comparable
    fault_at = history.fault_at_ns
    duration = trial_duration_s(history)
    golden_tools = None if golden is None else golden.tool_executions
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
            None if history.golden is None or duration is None
            else duration - history.golden.duration_s
        ),
        duration_s=duration,
        tool_executions=tools,
        redundant_tool_calls=None if golden_tools is None else tools - golden_tools,
    )


def _short_of_golden(history: History) -> bool:
    """A root's record did not end in SUCCESS: the runtime gave it up, it failed, or it was still
    not terminal when the trial ended (stranded or stuck). It did less than the golden run, so
    its redundant_* figures would compare unlike work."""
    return any(w.workflow_id in history.workflow_ids and w.status != "SUCCESS"
               for w in history.workflows)


def frontiers(history: History) -> dict[str, int]:
    """Workflow -> highest logical step delivered at or before the fault (-1 if none).

    Every workflow of the trial (roots and the children the store knows) has an entry; empty when
    no fault fired.
    """
    fault_at = history.fault_at_ns
    if fault_at is None:
        return {}
    found = dict.fromkeys(history.workflow_ids, -1)
    found.update(dict.fromkeys((w.workflow_id for w in history.workflows), -1))
    for e in history.trial_ledger():
        if (e.workflow_id is not None and e.step is not None and e.delivered
                and e.responded_ns is not None and e.responded_ns <= fault_at):
            found[e.workflow_id] = max(found.get(e.workflow_id, -1), e.step)
    return found


def frontier(history: History) -> int | None:
    """The first root's frontier (:func:`frontiers`); None if no fault fired."""
    front = frontiers(history)
    if not front or not history.workflow_ids:
        return None
    return front[history.workflow_ids[0]]


def _terminal_by(history: History, at_ns: int) -> frozenset[str]:
    """Workflows whose record is terminal and was last updated at or before ``at_ns``.

    The SUT's own record can only shrink what counts as in flight here, never widen it.
    """
    return frozenset(w.workflow_id for w in history.workflows
                     if w.status in TERMINAL_STATUSES and w.updated_ns <= at_ns)


def in_flight_calls(history: History) -> frozenset[tuple[str, int]]:
    """(workflow, logical step) pairs the fault caught in flight, judged from the ledger alone.

    Per workflow of the trial not already terminal at ``fault_at``: the highest logical step
    whose LLM request was received at or before ``fault_at`` (while its successor's was not).
    A call of the execution the fault caught (same executor and attempt,
    :func:`faulted_executions`) from a worker that died of the fault was sent before it died
    even when the provider received it just after ``fault_at``: it is in flight too (two sibling
    children of one worker calling at the kill's moment race it otherwise; the scenarios'
    ``waste_evidence.in_flight`` applies the same rule). Step records play no part: a runtime
    that records late cannot widen this. Empty when no fault fired.
    """
    fault_at = history.fault_at_ns
    if fault_at is None:
        return frozenset()
    done = _terminal_by(history, fault_at)
    last: dict[str, int] = {}
    for e in history.trial_ledger():
        if (e.workflow_id is not None and e.step is not None and e.received_ns <= fault_at
                and e.workflow_id not in done):
            last[e.workflow_id] = max(last.get(e.workflow_id, e.step), e.step)
    dead = _died_executors(history, fault_at)
    caught = faulted_executions(history)
    for e in history.trial_ledger():  # sent by the dying execution, received just after
        if (e.workflow_id in last and e.step is not None and e.received_ns > fault_at
                and e.executor in dead and caught.get(e.workflow_id) == (e.executor, e.attempt)):
            last[e.workflow_id] = max(last[e.workflow_id], e.step)
    return frozenset(last.items())


def _died_executors(history: History, fault_at: int) -> frozenset[str]:
    """Executors whose worker died (not stopped by the harness) at or after the fault."""
    return frozenset(e.executor for e in history.events_of("worker_exited")
                     if e.executor and e.detail.get("stopped_by") == "died"
                     and e.at_ns >= fault_at)  # fmt: skip


def in_flight_steps(history: History) -> frozenset[int]:
    """Logical steps of :func:`in_flight_calls` (workflow ids dropped)."""
    return frozenset(step for _, step in in_flight_calls(history))


def in_flight_tools(history: History) -> frozenset[tuple[str, int]]:
    """(workflow, logical step) of the in-flight steps (:func:`in_flight_calls`) whose tool the
    fault caught: a tool execution of that step started at or before ``fault_at``, or one that
    never finished (the tool log has no end for it: its worker died or was cut off in the middle,
    as when an armed OOM fault kills the worker inside the tool it starts after ``fault_at``).
    The tool work a fault may make a runtime redo, one execution per pair."""
    fault_at = history.fault_at_ns
    if fault_at is None:
        return frozenset()
    calls = in_flight_calls(history)
    return frozenset((t.workflow_id, t.step) for t in history.trial_tools()
                     if t.workflow_id is not None and t.step is not None
                     and (t.started_ns <= fault_at or t.finished_ns is None)
                     and (t.workflow_id, t.step) in calls)


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
    ids = history.trial_workflow_set()
    for e in history.trial_ledger():
        if e.workflow_id is not None:
            yield Activity(e.received_ns, "llm_request", e.workflow_id, e.executor, e.attempt,
                           e.step, e.delivered and 200 <= e.status < 300)
            if e.resumed_ns is not None:
                yield Activity(e.resumed_ns, "llm_request", e.workflow_id, None,
                               e.resumed_attempt, e.step, True)
    for t in history.trial_tools():
        if t.workflow_id is not None:
            yield Activity(t.started_ns, "tool_execution", t.workflow_id, t.executor, t.attempt,
                           t.step)
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


def _holds_worker(history: History) -> bool:
    return any(e.detail.get("fault") in HOLDING_FAULTS for e in history.events_of("fault_fired"))


def live_activities(history: History) -> tuple[Activity, ...]:
    """Activities strictly after the fault by a live execution, in time order (see module doc)."""
    fault_at = history.fault_at_ns
    if fault_at is None:
        return ()
    faulted = faulted_executions(history)
    healed = history.healed_ns
    exited = _exited_executors(history, fault_at)
    held = _holds_worker(history)
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
        after_heal = healed is not None and act.at_ns > healed
        same_running = (not held or after_heal) and (act.executor not in exited or act.answered)
        if newer or act.executor != hit_executor or same_running:
            live.append(act)
    return tuple(sorted(live, key=lambda a: a.at_ns))


def _time_to_resume_s(history: History) -> float | None:
    fault_at = history.fault_at_ns
    live = live_activities(history)
    if fault_at is None or not live:
        return None
    return (live[0].at_ns - fault_at) / _NS_PER_S


def _completing(record: WorkflowRecord, executor: str | None, attempt: int | None) -> bool:
    """Whether a request with this attribution came from the execution ``record`` names."""
    if attempt is not None:
        return attempt == record.epoch
    return executor is not None and executor == record.executor


def _root_recovered_ns(record: WorkflowRecord | None, front: int, live: tuple[Activity, ...],
                       floor: int) -> int | None:
    """When ``record``'s workflow was back beyond ``front`` (module docstring); ``floor`` is the
    least value (the fault, or the trial's first live activity)."""
    if record is None or record.status not in TERMINAL_STATUSES:
        return None
    beyond = [a.at_ns for a in live
              if a.kind == "llm_request" and a.answered and a.workflow_id == record.workflow_id
              and a.step is not None and a.step > front
              and _completing(record, a.executor, a.attempt)]
    return max(min(beyond), floor) if beyond else max(record.updated_ns, floor)


def _time_to_recover_s(history: History) -> float | None:
    fault_at = history.fault_at_ns
    front = frontiers(history)
    if fault_at is None or not front or not history.workflow_ids:
        return None
    records = {w.workflow_id: w for w in history.workflows}
    live = live_activities(history)
    floor = live[0].at_ns if live else fault_at
    recovered: list[int] = []
    for root in history.workflow_ids:
        at = _root_recovered_ns(records.get(root), front.get(root, -1), live, floor)
        if at is None:
            return None
        recovered.append(at)
    return (max(recovered) - fault_at) / _NS_PER_S
