"""single_active_execution: no two executions of one workflow make progress at the same time.

A replaced execution may legitimately *request* work again (an in-flight step is re-requested by
the execution that took over, and a zombie may still be talking to the provider): ledger requests
alone are never a violation. What fencing must prevent is two executions' *successful writes*
interleaving. Per workflow, its **writes** are its step records (time ``recorded_ns``, epoch,
executor) and its applied effects that carry an attempt (time ``received_ns``, attempt as epoch,
executor). **false** when any of these holds:

1. Stale write: in time order (ties broken by epoch), a write has an epoch lower than an epoch
   already written before it -- an older execution wrote after a newer one had.
2. Shared token: two different executors wrote with the same epoch.
3. Regressed record: the WorkflowRecord's final ``epoch`` is lower than the epoch of one of the
   workflow's writes or of one of its ledger requests (``attempt``): the row ended up owned by an
   older execution than one that demonstrably ran.

**unknown** when no workflow of the trial has any write or ledger request (nothing ran);
otherwise **true**.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from harness.checkers._evidence import Clock, clip, trial_workflow_ids
from harness.checkers._verdict import Verdict
from harness.history import History, Property

__all__ = ["check"]

PROPERTY: Property = "single_active_execution"


@dataclass(frozen=True)
class _Write:
    at_ns: int
    epoch: int
    executor: str | None
    line: str


def _writes(history: History, wf: str, clock: Clock) -> list[_Write]:
    writes = [_Write(r.recorded_ns, r.epoch, r.executor, clock.step(r))
              for r in history.steps if r.workflow_id == wf]
    writes += [_Write(f.received_ns, f.attempt, f.executor, clock.effect(f))
               for f in history.effects
               if f.workflow_id == wf and f.applied and f.attempt is not None]
    return sorted(writes, key=lambda w: (w.at_ns, w.epoch))


def _stale_write(wf: str, writes: list[_Write]) -> Verdict | None:
    newest: _Write | None = None
    for w in writes:
        if newest is not None and w.epoch < newest.epoch:
            return Verdict(PROPERTY, "false",
                           f"{wf}: epoch {w.epoch} wrote after epoch {newest.epoch} had written",
                           (newest.line, w.line), wf)
        if newest is None or w.epoch > newest.epoch:
            newest = w
    return None


def _shared_epoch(wf: str, writes: list[_Write]) -> Verdict | None:
    by_epoch: dict[int, dict[str, _Write]] = defaultdict(dict)
    for w in writes:
        if w.executor is not None:
            by_epoch[w.epoch].setdefault(w.executor, w)
    for epoch, writers in sorted(by_epoch.items()):
        if len(writers) > 1:
            return Verdict(PROPERTY, "false",
                           f"{wf}: executors {sorted(writers)} both wrote with epoch {epoch}",
                           clip([w.line for w in writers.values()]), wf)
    return None


def _regressed_record(history: History, wf: str, writes: list[_Write],
                      clock: Clock) -> Verdict | None:
    record = next((r for r in history.workflows if r.workflow_id == wf), None)
    if record is None:
        return None
    seen = [(w.epoch, w.line) for w in writes]
    seen += [(e.attempt, clock.ledger(e)) for e in history.trial_ledger()
             if e.workflow_id == wf and e.attempt is not None]
    higher = [(epoch, line) for epoch, line in seen if epoch > record.epoch]
    if not higher:
        return None
    top, line = max(higher)
    return Verdict(PROPERTY, "false",
                   f"{wf}: record ended at epoch {record.epoch} ({record.status}) but epoch "
                   f"{top} ran", (clock.workflow(record), line), wf)


def check(history: History) -> Verdict:
    clock = Clock(history)
    ledger_ids = {e.workflow_id for e in history.trial_ledger()}
    active = 0
    for wf in trial_workflow_ids(history):
        writes = _writes(history, wf, clock)
        if not writes and wf not in ledger_ids:
            continue
        active += 1
        for verdict in (_stale_write(wf, writes), _shared_epoch(wf, writes),
                        _regressed_record(history, wf, writes, clock)):
            if verdict is not None:
                return verdict
    if not active:
        return Verdict(PROPERTY, "unknown", "no workflow of this trial wrote or requested anything")
    return Verdict(PROPERTY, "true",
                   f"{active} workflow(s): writes fenced, one executor per epoch")
