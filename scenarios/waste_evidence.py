"""Waste per (workflow, logical step), read from the provider's ledger: the scenarios' own check of
what a crash re-billed, beside the bounded_waste verdict.

Workflows are matched between a trial and its golden run by **role**, not by id (ids differ per
run and per SUT): the root is ``lead``; a child is ``<parent's role>/<i>``, ``i`` its rank among
its siblings by creation time (a fan-out starts its children in order).

- ``billed(history)``: tokens per (role, step) over ledger entries the provider answered
  (status < 400: a failed call is a retry's cost, not a replay's);
- ``in_flight(history)``: per workflow, the highest logical step whose LLM call was received at or
  before the fault -- its successor's was not -- unless the workflow was already terminal then
  (docs/architecture.md, bounded_waste); a call of the execution the fault caught (same executor and
  attempt) from a worker that died of the fault was sent before it died even when the provider
  received it just after ``fault_at`` (in transit through the link): it is in flight too -- two
  sibling children of one worker calling at the kill's moment race it otherwise;
- ``excess_problems(trial, golden)``: every (role, step) billed more than in the golden run, beyond
  one golden call's worth for a step in flight. Empty means the waste stayed within the steps in
  flight, accounted per (workflow, step).
"""

from __future__ import annotations

from collections import Counter

from harness import TERMINAL_STATUSES, History, LedgerEntry
from harness.figures import faulted_executions

Key = tuple[str, int]


def roles(history: History) -> dict[str, str]:
    """Workflow id -> role (``lead``, ``lead/0``, ``lead/0/1``, ...)."""
    found = {root: "lead" if i == 0 else f"root{i}" for i, root in enumerate(history.workflow_ids)}
    children: dict[str, list[tuple[int, str]]] = {}
    for w in history.workflows:
        if w.parent_id is not None:
            children.setdefault(w.parent_id, []).append((w.created_ns, w.workflow_id))
    queue = list(found)
    while queue:
        parent = queue.pop(0)
        for rank, (_, child) in enumerate(sorted(children.get(parent, []))):
            found[child] = f"{found[parent]}/{rank}"
            queue.append(child)
    return found


def _answered(history: History) -> list[tuple[str, LedgerEntry]]:
    names = roles(history)
    return [(names[e.workflow_id], e) for e in history.trial_ledger()
            if e.workflow_id in names and e.step is not None and e.status < 400]


def billed(history: History) -> Counter[Key]:
    """Tokens billed per (role, logical step), failed calls left out."""
    totals: Counter[Key] = Counter()
    for role, e in _answered(history):
        totals[(role, int(e.step or 0))] += e.tokens
    return totals


def calls(history: History) -> Counter[Key]:
    """Answered LLM calls per (role, logical step)."""
    return Counter((role, int(e.step or 0)) for role, e in _answered(history))


def in_flight(history: History) -> set[Key]:
    """(role, step) pairs the fault caught in flight (see the module docstring)."""
    fault_at = history.fault_at_ns
    if fault_at is None:
        return set()
    names = roles(history)
    done_before = {w.workflow_id for w in history.workflows
                   if w.status in TERMINAL_STATUSES and w.updated_ns <= fault_at}
    dead = {e.executor for e in history.events_of("worker_exited")
            if e.detail.get("stopped_by") == "died" and e.at_ns >= fault_at}
    caught = faulted_executions(history)
    latest: dict[str, int] = {}
    for e in history.trial_ledger():
        if e.workflow_id not in names or e.step is None or e.workflow_id in done_before:
            continue
        if e.received_ns <= fault_at:
            latest[e.workflow_id] = max(latest.get(e.workflow_id, -1), e.step)
    for e in history.trial_ledger():  # sent by the dying execution, received just after
        if (e.workflow_id in latest and e.received_ns > fault_at and e.executor in dead
                and caught.get(e.workflow_id) == (e.executor, e.attempt)):
            latest[e.workflow_id] = max(latest[e.workflow_id], int(e.step or 0))
    return {(names[wf], step) for wf, step in latest.items()}


def excess_problems(trial: History, golden: History) -> list[str]:
    """(role, step) pairs billed beyond the golden run plus their in-flight allowance."""
    got, base, flying = billed(trial), billed(golden), in_flight(trial)
    problems = []
    for key in sorted(set(got) | set(base)):
        allowance = base[key] if key in flying else 0
        extra = got[key] - base[key]
        if extra > allowance:
            problems.append(f"{key[0]} step {key[1]}: billed {got[key]} tokens vs golden "
                            f"{base[key]} (+{extra}), allowance {allowance}"
                            f"{' (in flight)' if key in flying else ' (not in flight)'}")
    return problems
