"""Resumable steps: a step that records an external reference before it waits on it.

A step declared ``@app.step(..., resumable=True)`` starts work outside the process (an LLM
provider's background response, a batch job, a payment intent) and then waits for it. Before it
waits, it calls :func:`record_pending_ref` with the reference the outside world gave it: one
write-ahead record at the step's position, fenced by epoch like every step write. If the worker
dies while waiting, the execution that replays the workflow finds no final record at that
position but a pending one, and the step, called again, reads it with :func:`pending_ref` and
resumes waiting on the same work instead of starting it again.

Lifecycle of one resumable step:
1. replay: a final record at the position returns as for any step (the pending one is ignored);
2. otherwise the step runs with its *slot* bound: the reference recorded for the position by an
   earlier execution (read lazily, once per execution), or None;
3. the step, when it starts external work, calls :func:`record_pending_ref` (which replaces the
   slot's reference: a retry of the step sees it too) and then waits;
4. its output is recorded as the final record, as for any step. The pending row stays beside it
   as evidence of which external work the step waited on.

What it costs: one more fenced write per resumable step (``benchmarks/step_overhead.py``). What
it does not do: decide whether the external work is still there -- a step whose reference is
stale (the provider dropped the response) must start again and record the new reference.
With checkpointing off nothing is recorded: the reference lives only as long as the attempt.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from reference_runtime._errors import (
    FencedError,
    ReferenceRuntimeError,
    SerializationError,
    WorkflowCancelledError,
)
from reference_runtime._types import JSON, PendingStep

if TYPE_CHECKING:
    from reference_runtime._context import Execution
    from reference_runtime._db import Database

_NS = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000"

_RECORD_PENDING = """
WITH wf AS (
    SELECT status, epoch FROM {s}.workflows WHERE workflow_id = %(wid)s FOR SHARE
), up AS (
    INSERT INTO {s}.pending_steps (workflow_id, seq, name, ref, executor_id, epoch, recorded_ns)
    SELECT %(wid)s, %(seq)s, %(name)s, %(ref)s::jsonb, %(executor)s, %(epoch)s, {now_ns}
    FROM wf WHERE wf.status = 'PENDING' AND wf.epoch = %(epoch)s
    ON CONFLICT (workflow_id, seq) DO UPDATE SET
        name = EXCLUDED.name, ref = EXCLUDED.ref, executor_id = EXCLUDED.executor_id,
        epoch = EXCLUDED.epoch, recorded_ns = EXCLUDED.recorded_ns
    RETURNING 1
)
SELECT (SELECT count(*) FROM up), wf.status, wf.epoch FROM wf
"""
_PENDING_COLUMNS = "workflow_id, seq, name, ref, executor_id, epoch, recorded_ns"


class PendingStore:
    """The ``pending_steps`` table: write-ahead records of resumable steps."""

    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self._s = schema
        self._record_sql = _RECORD_PENDING.format(s=schema, now_ns=_NS)

    def record(self, pending: PendingStep) -> None:
        """Write (or replace) the pending record at its position, fenced by epoch; idempotent."""
        self.db.run(lambda c: self._record_txn(c, pending))

    def _record_txn(self, conn: psycopg.Connection, p: PendingStep) -> None:
        params = {"wid": p.workflow_id, "seq": p.seq, "name": p.name, "ref": json.dumps(p.ref),
                  "executor": p.executor_id, "epoch": p.epoch}
        row = conn.execute(self._record_sql, params).fetchone()
        if row is None:
            raise ReferenceRuntimeError(
                f"workflow {p.workflow_id!r} has no status row; it cannot record steps"
            )
        written, status, epoch = row
        if written:
            return
        if status == "CANCELLED":
            raise WorkflowCancelledError(p.workflow_id)
        raise FencedError(
            f"workflow {p.workflow_id!r} is now at epoch {epoch} ({status}); this execution's "
            f"epoch {p.epoch} may no longer record the pending reference of step {p.seq}"
        )

    def load(self, workflow_id: str) -> dict[int, PendingStep]:
        rows = self.db.run(
            lambda c: c.execute(
                f"SELECT {_PENDING_COLUMNS} FROM {self._s}.pending_steps "
                "WHERE workflow_id = %s ORDER BY seq",
                (workflow_id,),
            ).fetchall()
        )
        return {int(r[1]): PendingStep(*r) for r in rows}


@dataclass
class PendingSlot:
    """The resumable step running now: its position and the reference recorded for it."""

    execution: Execution
    seq: int
    name: str
    ref: JSON | None


_slot: ContextVar[PendingSlot | None] = ContextVar("reference_runtime_pending", default=None)


class _Bound:
    def __init__(self, slot: PendingSlot) -> None:
        self._slot = slot

    def __enter__(self) -> None:
        self._token = _slot.set(self._slot)

    def __exit__(self, *exc: object) -> None:
        _slot.reset(self._token)


def running_resumable(slot: PendingSlot) -> AbstractContextManager[None]:
    return _Bound(slot)


def _current_slot(what: str) -> PendingSlot:
    slot = _slot.get()
    if slot is None:
        raise ReferenceRuntimeError(
            f"{what}() must be called inside a step declared @app.step(..., resumable=True) "
            "that runs in a workflow"
        )
    return slot


def pending_ref() -> JSON | None:
    """Inside a resumable step: the reference recorded for this step (by an earlier execution
    of the workflow, or an earlier attempt of this one), else None."""
    return _current_slot("pending_ref").ref


def record_pending_ref(ref: Any) -> None:
    """Inside a resumable step, before waiting: record ``ref`` (JSON) as this step's external
    work, fenced by epoch (FencedError when a newer execution owns the workflow)."""
    slot = _current_slot("record_pending_ref")
    try:
        value = json.loads(json.dumps(ref, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"the pending reference of step {slot.name!r} is not JSON-serialisable: {exc}"
        ) from exc
    ctx = slot.execution.context
    if ctx.checkpointing:
        slot.execution.host.store.pending.record(PendingStep(
            ctx.workflow_id, slot.seq, slot.name, value, ctx.executor_id, ctx.epoch, 0
        ))
    slot.ref = value
