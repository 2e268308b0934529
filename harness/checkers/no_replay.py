"""no_replay: a step whose checkpoint existed before the fault is never executed again.

Only meaningful with checkpointing on; with it off the verdict is **unknown** ("no checkpoints to
replay from"): such SUTs do not promise it.

Executions are counted from the harness's evidence: LLM calls in the provider's ledger and tool
executions in the provider's tool log, each attributed to (workflow, logical step).

Precisely, over the trial's workflows:
1. **false** when two step records share (workflow_id, seq), or two ``llm`` (or two ``tool``)
   step records share (workflow_id, step): the store holds two completions of one step. (Checked
   with or without a fault.)
2. **unknown** when the fault never fired: nothing could have been replayed.
3. For every ``llm`` step record recorded at or before ``fault_at``: **false** when the ledger
   holds a request for the same (workflow, logical step) received strictly after the record was
   recorded -- the completed step ran again. Likewise for every ``tool`` step record recorded at
   or before ``fault_at`` and a tool execution of the same (workflow, logical step) started
   strictly after it. An execution by a **superseded** execution is no replay: one whose
   ``attempt`` (the runtime's epoch) is lower than an epoch that had already claimed the workflow
   when it began (the claim as single_active_execution defines it: the recorded claim, or that
   epoch's first activity, whichever is earlier). Such a zombie does not replay from the
   checkpoints -- it never read the record, which did not exist when it loaded its steps; what
   it pays is waste (bounded_waste) and what it writes is judged by single_active_execution. A
   replay by the execution that owns the workflow is always counted.
4. Otherwise **true** (also when no step had been checkpointed before the fault: nothing was there
   to replay, and the details say so).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from harness.checkers._evidence import (
    Act,
    Clock,
    clip,
    epoch_claims,
    execution_acts,
    superseded_at,
)
from harness.checkers._verdict import Verdict
from harness.history import History, Property, StepRecord

__all__ = ["check"]

PROPERTY: Property = "no_replay"


def _duplicates(history: History, clock: Clock) -> Verdict | None:
    by_seq: dict[tuple[str, int], list[StepRecord]] = defaultdict(list)
    by_step: dict[tuple[str, str, int], list[StepRecord]] = defaultdict(list)
    for r in history.steps:
        by_seq[(r.workflow_id, r.seq)].append(r)
        if r.kind in ("llm", "tool") and r.step is not None:
            by_step[(r.kind, r.workflow_id, r.step)].append(r)
    for (wf, seq), records in by_seq.items():
        if len(records) > 1:
            return Verdict(PROPERTY, "false",
                           f"{wf}: {len(records)} step records share seq {seq}",
                           clip([clock.step(r) for r in records]), wf)
    for (kind, wf, step), records in by_step.items():
        if len(records) > 1:
            return Verdict(PROPERTY, "false",
                           f"{wf}: logical {kind} step {step} was recorded {len(records)} times",
                           clip([clock.step(r) for r in records]), wf)
    return None


def check(history: History) -> Verdict:
    if not history.checkpointing:
        return Verdict(PROPERTY, "unknown",
                       "checkpointing is off: no checkpoints to replay from")
    clock = Clock(history)
    duplicate = _duplicates(history, clock)
    if duplicate is not None:
        return duplicate
    fault_at = history.fault_at_ns
    if fault_at is None:
        return Verdict(PROPERTY, "unknown", "the fault never fired: nothing could be replayed")
    checkpointed = [r for r in history.steps if r.kind in ("llm", "tool")
                    and r.step is not None and r.recorded_ns <= fault_at]
    for record in sorted(checkpointed, key=lambda r: r.recorded_ns):
        again = _executions_after(history, record, clock)
        if again:
            what = "requested" if record.kind == "llm" else "executed"
            return Verdict(PROPERTY, "false",
                           f"{record.workflow_id}: logical {record.kind} step {record.step}, "
                           f"checkpointed at {clock.at(record.recorded_ns)}, was {what} again "
                           f"{len(again)} time(s)", clip([clock.step(record), *again]),
                           record.workflow_id)
    if not checkpointed:
        return Verdict(PROPERTY, "true",
                       "no step had been checkpointed before the fault: nothing to replay")
    return Verdict(PROPERTY, "true",
                   f"none of the {len(checkpointed)} llm/tool step(s) checkpointed before the "
                   f"fault ran again")


def _superseded(claims: Mapping[int, Act], attempt: int | None, at_ns: int) -> bool:
    """Whether an execution of ``attempt`` that began at ``at_ns`` had been superseded then."""
    if attempt is None:
        return False
    claim = superseded_at(claims, attempt)
    return claim is not None and claim.at_ns < at_ns


def _executions_after(history: History, record: StepRecord, clock: Clock) -> list[str]:
    """Evidence lines of executions of ``record``'s (workflow, step) that began after it, by an
    execution not superseded when it began (module doc)."""
    wf, step, at = record.workflow_id, record.step, record.recorded_ns
    claimed = epoch_claims(history, wf, execution_acts(history, wf, clock), clock)
    if record.kind == "llm":
        return [clock.ledger(e) for e in history.trial_ledger()
                if e.workflow_id == wf and e.step == step and e.received_ns > at
                and not _superseded(claimed, e.attempt, e.received_ns)]
    return [clock.tool(t) for t in history.trial_tools()
            if t.workflow_id == wf and t.step == step and t.started_ns > at
            and not _superseded(claimed, t.attempt, t.started_ns)]
