"""terminates: every started workflow reaches a terminal state within a bound after faults heal.

Precisely:
- The workflows judged are the trial's roots (``History.workflow_ids``) and every workflow the
  SUT's store knows (children included).
- The bound starts at the *anchor*: the last ``fault_healed`` event; else ``fault_at`` when the
  fault fired but was never healed; else the trial start (earliest ``trial_started`` /
  ``workflow_started`` event, else ``History.started_ns``). ``deadline = anchor +
  terminate_bound_s``.
- A workflow is terminal when its WorkflowRecord has a terminal status (at ``updated_ns``) or,
  lacking that, some handle observed a terminal Outcome (at ``observed_ns``).
- The trial end is ``History.ended_ns``, else the ``trial_ended`` event, else the latest time
  anywhere in the history.

Per workflow: **true** when terminal at or before the deadline; **false** when terminal only
after the deadline, or still not terminal and the deadline had passed by the trial end;
**unknown** when still not terminal but the trial ended (e.g. ``trial_timeout``) before the
deadline. The verdict is the worst over all workflows; unknown when no workflow was started.
"""

from __future__ import annotations

from harness.checkers._evidence import Clock, clip, trial_workflow_ids
from harness.checkers._verdict import Verdict, worst_of
from harness.history import TERMINAL_STATUSES, History, Property

__all__ = ["check"]

PROPERTY: Property = "terminates"


def _anchor_ns(history: History) -> tuple[int, str]:
    if history.healed_ns is not None:
        return history.healed_ns, "the last heal"
    if history.fault_at_ns is not None:
        return history.fault_at_ns, "the fault (never healed)"
    starts = [e.at_ns for e in history.events if e.kind in ("trial_started", "workflow_started")]
    return (min(starts) if starts else history.started_ns), "the trial start"


def _trial_end_ns(history: History) -> int:
    if history.ended_ns:
        return history.ended_ns
    ended = history.events_of("trial_ended")
    if ended:
        return max(e.at_ns for e in ended)
    times = [e.at_ns for e in history.events]
    times += [e.responded_ns or e.received_ns for e in history.ledger]
    times += [r.recorded_ns for r in history.steps]
    times += [w.updated_ns for w in history.workflows]
    times += [o.observed_ns for o in history.outcomes]
    return max(times, default=0)


def _terminal_at(history: History, workflow_id: str) -> int | None:
    for w in history.workflows:
        if w.workflow_id == workflow_id and w.status in TERMINAL_STATUSES:
            return w.updated_ns
    seen = [o.observed_ns for o in history.outcomes
            if o.workflow_id == workflow_id and o.status in TERMINAL_STATUSES]
    return min(seen) if seen else None


def _judge_workflow(history: History, workflow_id: str, deadline: int, end: int,
                    why: str, clock: Clock) -> Verdict:
    done = _terminal_at(history, workflow_id)
    records = [clock.workflow(w) for w in history.workflows if w.workflow_id == workflow_id]
    evidence = clip([*records, f"deadline {clock.at(deadline)} ({why}), trial end {clock.at(end)}"])
    if done is not None and done <= deadline:
        return Verdict(PROPERTY, "true", f"{workflow_id} terminal at {clock.at(done)}",
                       evidence, workflow_id)
    if done is not None:
        return Verdict(PROPERTY, "false",
                       f"{workflow_id} became terminal at {clock.at(done)}, after the deadline "
                       f"{clock.at(deadline)}", evidence, workflow_id)
    if end >= deadline:
        return Verdict(PROPERTY, "false",
                       f"{workflow_id} still not terminal at trial end {clock.at(end)}; the "
                       f"deadline {clock.at(deadline)} had passed", evidence, workflow_id)
    return Verdict(PROPERTY, "unknown",
                   f"{workflow_id} not terminal yet, but the trial ended at {clock.at(end)} "
                   f"before the deadline {clock.at(deadline)}", evidence, workflow_id)


def check(history: History) -> Verdict:
    workflow_ids = trial_workflow_ids(history)
    if not workflow_ids:
        return Verdict(PROPERTY, "unknown", "no workflow was started in this trial")
    anchor, why = _anchor_ns(history)
    deadline = anchor + int(history.terminate_bound_s * 1e9)
    end = _trial_end_ns(history)
    clock = Clock(history)
    verdicts = [_judge_workflow(history, wf, deadline, end,
                                f"{history.terminate_bound_s:g}s after {why}", clock)
                for wf in workflow_ids]
    fallback = Verdict(PROPERTY, "true",
                       f"all {len(workflow_ids)} workflow(s) terminal by {clock.at(deadline)}")
    return worst_of(verdicts, fallback)
