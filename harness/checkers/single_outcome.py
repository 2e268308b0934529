"""single_outcome: one terminal result per workflow id; every handle sees the same value.

Precisely, per workflow id (roots, children, and any id an Outcome names):
- the terminal results are every terminal Outcome (one per handle observation) plus the
  WorkflowRecord when its status is terminal; a result is the pair (status, output), outputs
  compared as JSON values;
- **false** when two terminal results differ, or when a handle observed a terminal Outcome while
  the store's WorkflowRecord is not terminal (the store "forgot" a result a caller already saw);
- otherwise true for that workflow.
The verdict is the worst over workflows; **unknown** when no workflow has any terminal result
(nothing was decided, so nothing could disagree).
"""

from __future__ import annotations

from harness.checkers._evidence import Clock, clip, trial_workflow_ids
from harness.checkers._verdict import Verdict, worst_of
from harness.history import TERMINAL_STATUSES, History, JSONValue, Property

__all__ = ["check"]

PROPERTY: Property = "single_outcome"


def _short(value: JSONValue, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _judge_workflow(history: History, workflow_id: str, clock: Clock) -> Verdict | None:
    records = [w for w in history.workflows if w.workflow_id == workflow_id]
    outcomes = [o for o in history.outcomes
                if o.workflow_id == workflow_id and o.status in TERMINAL_STATUSES]
    results: list[tuple[str, str, JSONValue]] = [
        (f"outcome@{o.observer} {clock.at(o.observed_ns)}", o.status, o.output) for o in outcomes
    ]
    results += [(f"record {clock.at(w.updated_ns)}", w.status, w.output)
                for w in records if w.status in TERMINAL_STATUSES]
    if not results:
        return None
    evidence = clip([f"{who}: {status} {_short(out)}" for who, status, out in results]
                    + [clock.workflow(w) for w in records if w.status not in TERMINAL_STATUSES])
    first_who, first_status, first_out = results[0]
    for who, status, out in results[1:]:
        if status != first_status or out != first_out:
            return Verdict(PROPERTY, "false",
                           f"{workflow_id}: {first_who} saw {first_status} but {who} saw "
                           f"{status} (outputs {'equal' if out == first_out else 'differ'})",
                           evidence, workflow_id)
    pending = [w for w in records if w.status not in TERMINAL_STATUSES]
    if pending:
        return Verdict(PROPERTY, "false",
                       f"{workflow_id}: a handle saw {first_status} but the store still says "
                       f"{pending[0].status}", evidence, workflow_id)
    return Verdict(PROPERTY, "true", f"{workflow_id}: {len(results)} agreeing result(s)",
                   evidence, workflow_id)


def check(history: History) -> Verdict:
    ids = dict.fromkeys(trial_workflow_ids(history))
    for o in history.outcomes:
        ids.setdefault(o.workflow_id)
    clock = Clock(history)
    verdicts = [v for wf in ids if (v := _judge_workflow(history, wf, clock)) is not None]
    if not verdicts:
        return Verdict(PROPERTY, "unknown", "no workflow reached a terminal result to compare")
    return worst_of(verdicts, Verdict(
        PROPERTY, "true", f"{len(verdicts)} workflow(s), each with one agreeing terminal result"))
