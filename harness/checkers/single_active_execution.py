"""single_active_execution: once an execution is superseded, nothing it does takes effect.

An **execution** of a workflow is one epoch (the runtime's fencing token; the ledger, tool log and
effect sink see it as the ``attempt`` header). Epoch ``e`` is **superseded** when a higher epoch
``e' > e`` claimed the workflow. The claim time of ``e'`` is the SUT's recorded claim
(``History.claims``, from clients with the ``ReportsClaims`` ability) or the first activity of
``e'`` the history shows (a ledger request, a tool execution, a step record or an effect
delivery), whichever is earlier: the first activity is an upper bound of the claim, so judging
against it never accuses a write made before the claim, though without recorded claims it may
miss one made between the real claim and the newer execution's first activity. The superseding
claim of ``e`` is the earliest claim over ``e' > e``.

Per workflow, **false** when any of these holds:

1. Late write: a step record (``recorded_ns``), an applied effect (``received_ns``) or the
   outcome (a terminal WorkflowRecord's ``updated_ns``, when the SUT records its writer's
   ``outcome_epoch``) of epoch ``e`` lands strictly after the superseding claim of ``e``.
2. Late outcome: the WorkflowRecord ends owned by an epoch lower than one that demonstrably ran
   (its ``epoch`` is lower than the epoch of a write, ledger request or tool execution); or its
   outcome was written by an epoch lower than the one that owns the record (``outcome_epoch <
   epoch``: a newer execution had claimed the workflow, yet the older one's outcome was
   accepted -- a zombie further along than its replacement, which may show no activity at all
   when it only replayed); or a terminal output names (``output["llm_nonces"]``) the nonce of a
   response that a superseded epoch received after the superseding claim (``responded_ns`` later
   than the claim) -- the superseded execution's work became the outcome -- unless an epoch at
   least as new as the claim resumed that response (``resumed_attempt``: it retrieved the
   background response instead of calling again; the answer went to the owner).
3. Shared token: two different executors wrote with the same epoch.
4. Unexplained takeover: epoch ``e'`` superseded epoch ``e`` of executor ``X`` while nothing the
   trial did could explain it: no fault had fired at or before the claim bound, and no worker of
   ``X`` had exited by then. A lease can legitimately expire without a death under db_crash,
   partition, pause, degrade and provider faults, so any fault fired before the claim explains
   it; before the first fault (or in a trial without one) a live, unfaulted worker was
   superseded, which is a runtime claiming workflows it does not own.

LLM requests and tool executions a superseded execution makes are waste (bounded_waste), not a
breach; an effect the sink refused (``EffectRecord.fenced``: a newer epoch had been announced, see
docs/architecture.md, "Fenced side effects") was not applied, so it is no write, and the verdict
counts such refusals in its details. **unknown** when no workflow of the trial has any write or
ledger request (nothing ran); otherwise **true**.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping

from harness.checkers._evidence import (
    Act,
    Clock,
    clip,
    epoch_claims,
    execution_acts,
    superseded_at,
    trial_workflow_ids,
)
from harness.checkers._verdict import Verdict
from harness.history import History, Property, WorkflowRecord

__all__ = ["check"]

PROPERTY: Property = "single_active_execution"


def _late_write(wf: str, acts: list[Act], claims: Mapping[int, Act]) -> Verdict | None:
    for a in acts:
        claim = superseded_at(claims, a.epoch)
        if a.write and claim is not None and a.at_ns > claim.at_ns:
            return Verdict(PROPERTY, "false",
                           f"{wf}: epoch {a.epoch} wrote after epoch {claim.epoch} had claimed "
                           f"the workflow", (claim.line, a.line), wf)
    return None


def _shared_epoch(wf: str, acts: list[Act]) -> Verdict | None:
    by_epoch: dict[int, dict[str, Act]] = defaultdict(dict)
    for a in acts:
        if a.write and a.executor is not None:
            by_epoch[a.epoch].setdefault(a.executor, a)
    for epoch, writers in sorted(by_epoch.items()):
        if len(writers) > 1:
            return Verdict(PROPERTY, "false",
                           f"{wf}: executors {sorted(writers)} both wrote with epoch {epoch}",
                           clip([a.line for a in writers.values()]), wf)
    return None


def _late_outcome(history: History, record: WorkflowRecord, acts: list[Act],
                  claims: Mapping[int, Act], clock: Clock) -> Verdict | None:
    wf = record.workflow_id
    higher = [a for a in acts if a.epoch > record.epoch]
    if higher:
        top = max(higher, key=lambda a: a.epoch)
        return Verdict(PROPERTY, "false",
                       f"{wf}: record ended at epoch {record.epoch} ({record.status}) but epoch "
                       f"{top.epoch} ran", (clock.workflow(record), top.line), wf)
    if record.outcome_epoch is not None and record.outcome_epoch < record.epoch:
        return Verdict(PROPERTY, "false",
                       f"{wf}: the {record.status} outcome was written by epoch "
                       f"{record.outcome_epoch} although epoch {record.epoch} had claimed the "
                       "workflow", (clock.workflow(record),), wf)
    output = record.output if isinstance(record.output, Mapping) else {}
    nonces = output.get("llm_nonces")
    used = set(nonces.values()) if isinstance(nonces, Mapping) else set()
    for e in history.trial_ledger():
        claim = None if e.attempt is None else superseded_at(claims, e.attempt)
        resumed = (claim is not None and e.resumed_attempt is not None
                   and e.resumed_attempt >= claim.epoch)
        if (e.workflow_id == wf and e.nonce in used and claim is not None and not resumed
                and e.responded_ns is not None and e.responded_ns > claim.at_ns):
            return Verdict(PROPERTY, "false",
                           f"{wf}: the outcome uses a response epoch {e.attempt} received after "
                           f"epoch {claim.epoch} had claimed the workflow",
                           (claim.line, clock.ledger(e), clock.workflow(record)), wf)
    return None


def _unexplained_takeover(history: History, wf: str,
                          claims: Mapping[int, Act]) -> Verdict | None:
    fault_at = history.fault_at_ns
    epochs = sorted(claims)
    for old, new in itertools.pairwise(epochs):
        claim, owner = claims[new], claims[old].executor
        if fault_at is not None and fault_at <= claim.at_ns:
            continue
        exited = [e for e in history.events_of("worker_exited")
                  if e.executor == owner and e.at_ns <= claim.at_ns]
        if not exited:
            return Verdict(PROPERTY, "false",
                           f"{wf}: epoch {new} took the workflow from epoch {old} ({owner}) "
                           f"although no fault had fired and {owner}'s worker was alive",
                           (claims[old].line, claim.line), wf)
    return None


def check(history: History) -> Verdict:
    clock = Clock(history)
    records = {w.workflow_id: w for w in history.workflows}
    active = 0
    for wf in trial_workflow_ids(history):
        acts = execution_acts(history, wf, clock)
        if not acts:
            continue
        active += 1
        claims = epoch_claims(history, wf, acts, clock)
        record = records.get(wf)
        for verdict in (_late_write(wf, acts, claims), _shared_epoch(wf, acts),
                        None if record is None
                        else _late_outcome(history, record, acts, claims, clock),
                        _unexplained_takeover(history, wf, claims)):
            if verdict is not None:
                return verdict
    if not active:
        return Verdict(PROPERTY, "unknown", "no workflow of this trial wrote or requested anything")
    refused = sum(1 for f in history.effects if f.fenced)
    fenced = (f"; the sink's epoch fence refused {refused} effect(s) of superseded executions"
              if refused else "")
    return Verdict(PROPERTY, "true",
                   f"{active} workflow(s): nothing accepted from a superseded execution, one "
                   f"executor per epoch, every takeover explained by a fault or a death{fenced}")
