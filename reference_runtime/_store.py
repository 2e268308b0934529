"""The store: every SQL statement the runtime runs, against the tables in ``_schema``.

Methods come in pairs: a public method that runs through :meth:`Database.run` (its own
autocommit statement, retried on connection errors) and a ``_..._txn(conn, ...)`` body that
compound operations could share. Every write is idempotent so that a retry after a lost commit
acknowledgement is safe.

Fencing: a step record and an outcome are written only while the workflow row is PENDING and
still carries the writer's epoch. The step insert takes ``FOR SHARE`` on the workflow row inside
its single statement, so it is ordered against a concurrent claim (which bumps the epoch): a
step is either committed before the claim, and seen by the new owner's replay, or rejected.

Claiming: a PENDING workflow is claimable when it has no owner, its lease expired, it is this
executor's own (a restart), or its owner's executor lock is gone (its session ended: the worker
died; see ``_liveness``). The last is only an accelerator: fencing above never depends on it.
The claim statement also appends each claim to the ``claims`` log (who, which epoch, from whom,
why, when) in the same statement, so a claim is never committed without its log row.

Announcing epochs: with an ``announce`` callable, a claim runs in one transaction: the claim
statement (rows locked, epochs bumped, not yet visible), then ``announce([(workflow_id, epoch),
...])`` -- e.g. to a side-effect sink that refuses lower epochs (a fencing token) --, then the
claim log's ``claimed_at`` is set to the time after the announcement and the lease restarts from
it (an announcement slowed by a loaded machine must not eat the new owner's lease), then commit.
So every resource that checks the token knows the new epoch before the claim takes effect, and an
effect a superseded execution got applied was applied before ``claimed_at``. A failed
announcement rolls the claim back (:class:`FenceAnnouncementError`): nothing is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from reference_runtime._db import Database
from reference_runtime._errors import (
    FenceAnnouncementError,
    FencedError,
    ReferenceRuntimeError,
    WorkflowCancelledError,
)
from reference_runtime._liveness import LIVE_EXECUTORS, lock_namespace
from reference_runtime._pending import PendingStore
from reference_runtime._types import Claim, ClaimInfo, StepInfo, WorkflowInfo

Announce = Callable[[Sequence[tuple[str, int]]], None]
"""Told ``(workflow_id, new epoch)`` pairs inside a claim's transaction, before it commits."""

_NS = "(extract(epoch FROM {col}) * 1000000)::bigint * 1000"
_WF_COLUMNS = (
    "workflow_id, name, parent_id, status, inputs, output, error, executor_id, epoch, "
    f"recovery_attempts, {_NS.format(col='created_at')}, {_NS.format(col='updated_at')}, "
    "outcome_epoch, outcome_executor"
)
_STEP_COLUMNS = "workflow_id, seq, name, output, error, executor_id, epoch, recorded_ns"

_RECORD_STEP = """
WITH wf AS (
    SELECT status, epoch FROM {s}.workflows WHERE workflow_id = %(wid)s FOR SHARE
), ins AS (
    INSERT INTO {s}.steps (workflow_id, seq, name, output, error, executor_id, epoch, recorded_ns)
    SELECT %(wid)s, %(seq)s, %(name)s, %(output)s::jsonb, %(error)s::jsonb, %(executor)s,
           %(epoch)s, {now_ns}
    FROM wf WHERE wf.status = 'PENDING' AND wf.epoch = %(epoch)s
    ON CONFLICT (workflow_id, seq) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), wf.status, wf.epoch,
       (SELECT s.epoch FROM {s}.steps s WHERE s.workflow_id = %(wid)s AND s.seq = %(seq)s)
FROM wf
"""

_CLAIM = """
WITH live AS MATERIALIZED ({live}), c AS (
    SELECT workflow_id, executor_id AS previous,
           CASE WHEN executor_id IS NULL THEN 'unowned'
                WHEN executor_id = %(me)s THEN 'own'
                WHEN lease_expires_at < now() THEN 'lease_expired'
                ELSE 'session_ended' END AS reason
    FROM {s}.workflows
    WHERE status = 'PENDING' AND name = ANY(%(names)s)
      -- never what this worker is running: after an outage longer than the lease, claiming it
      -- would fence our own live execution and pay its in-flight step again; the heartbeat
      -- renews such a lease (it matches on the epoch) unless another worker took it meanwhile
      AND NOT (workflow_id = ANY(%(held)s))
      AND (executor_id IS NULL OR lease_expires_at < now()
           -- ours but not held by this process: a predecessor of this executor id died. Only
           -- while we hold our lock: else another session of our id lives (a rolling restart's
           -- old process, still draining, or a paused one) and it is its workflow until it
           -- releases it or its lease lapses
           OR (executor_id = %(me)s AND %(locked)s)
           -- the owner's session ended (its executor lock is gone): it died, take over now;
           -- trusted only while the claimer's own lock is held (else we are the one cut off),
           -- and only if the owner held its own lock when it claimed or last renewed (a worker
           -- restarted while its predecessor's session lingers claims without it: the key is
           -- free for a moment between that session's end and the new one taking it)
           OR (%(detect)s AND owner_locked
               AND EXISTS (SELECT 1 FROM live WHERE live.objid = hashtext(%(me)s)::oid)
               AND NOT EXISTS (SELECT 1 FROM live WHERE live.objid = hashtext(executor_id)::oid)))
    ORDER BY created_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), upd AS (
    UPDATE {s}.workflows w SET
        epoch = w.epoch + 1,
        executor_id = %(me)s,
        lease_expires_at = now() + make_interval(secs => %(lease)s),
        owner_locked = %(locked)s,
        recovery_attempts = w.recovery_attempts + (w.epoch > 0)::int,
        status = CASE WHEN w.recovery_attempts + (w.epoch > 0)::int > %(max)s
                      THEN 'DEAD_LETTER' ELSE 'PENDING' END,
        error = CASE WHEN w.recovery_attempts + (w.epoch > 0)::int > %(max)s
                     THEN jsonb_build_object('type', 'DeadLetterError', 'message',
                          format('claimed %%s times, more than max_recovery_attempts=%%s',
                                 w.epoch + 1, %(max)s))
                     ELSE w.error END,
        -- a dead-lettering claim writes the outcome itself, at its own epoch
        outcome_epoch = CASE WHEN w.recovery_attempts + (w.epoch > 0)::int > %(max)s
                             THEN w.epoch + 1 END,
        outcome_executor = CASE WHEN w.recovery_attempts + (w.epoch > 0)::int > %(max)s
                                THEN %(me)s END,
        updated_at = clock_timestamp()
    FROM c WHERE w.workflow_id = c.workflow_id
    RETURNING w.workflow_id, w.name, w.inputs, w.epoch, w.status, c.previous, c.reason,
              w.updated_at
), log AS (
    -- the claim log, in the claim's own statement: committed together or not at all
    INSERT INTO {s}.claims (workflow_id, epoch, executor_id, previous_owner, reason, claimed_at)
    SELECT workflow_id, epoch, %(me)s, previous, reason, updated_at FROM upd
    ON CONFLICT (workflow_id, epoch) DO NOTHING
)
SELECT workflow_id, name, inputs, epoch, status, previous, reason FROM upd
"""


def _asked(flag: bool | Callable[[], bool]) -> bool:
    """A flag given as a value, or asked now when given as a callable (see ``Store.claim``)."""
    return flag() if callable(flag) else flag


class Store:
    """SQL over one schema. Thread-safe: every call takes a pooled connection."""

    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        s = schema
        self._record_step_sql = _RECORD_STEP.format(s=s, now_ns=_NS.format(col="clock_timestamp()"))
        self._claim_sql = _CLAIM.format(s=s, live=LIVE_EXECUTORS)
        self._namespace = lock_namespace(schema)
        self._s = s
        self.pending = PendingStore(db, s)
        """Write-ahead records of resumable steps (``_pending``)."""

    # -- workflows -----------------------------------------------------------------------------
    def enqueue(
        self, workflow_id: str, name: str, inputs: str, parent_id: str | None
    ) -> str | None:
        """Insert a PENDING row unless the id exists; returns the existing row's name, if any."""
        return self.db.run(lambda c: self._enqueue_txn(c, workflow_id, name, inputs, parent_id))

    def _enqueue_txn(
        self, conn: psycopg.Connection, workflow_id: str, name: str, inputs: str, pid: str | None
    ) -> str | None:
        row = conn.execute(
            f"""INSERT INTO {self._s}.workflows (workflow_id, name, parent_id, status, inputs)
                VALUES (%s, %s, %s, 'PENDING', %s::jsonb)
                ON CONFLICT (workflow_id) DO NOTHING RETURNING workflow_id""",
            (workflow_id, name, pid, inputs),
        ).fetchone()
        if row is not None:
            return None
        existing = conn.execute(
            f"SELECT name FROM {self._s}.workflows WHERE workflow_id = %s", (workflow_id,)
        ).fetchone()
        return str(existing[0]) if existing else name

    def get_workflow(self, workflow_id: str) -> WorkflowInfo | None:
        row = self.db.run(
            lambda c: c.execute(
                f"SELECT {_WF_COLUMNS} FROM {self._s}.workflows WHERE workflow_id = %s",
                (workflow_id,),
            ).fetchone()
        )
        return None if row is None else WorkflowInfo(*row)

    def list_workflows(self, parent_id: str | None) -> list[WorkflowInfo]:
        where, params = ("WHERE parent_id = %s", (parent_id,)) if parent_id else ("", ())
        rows = self.db.run(
            lambda c: c.execute(
                f"SELECT {_WF_COLUMNS} FROM {self._s}.workflows {where} "
                "ORDER BY created_at, workflow_id",
                params,
            ).fetchall()
        )
        return [WorkflowInfo(*row) for row in rows]

    def statuses(self, ids: Sequence[str]) -> dict[str, tuple[str, int, Any, Any]]:
        """``{id: (status, epoch, output, error)}`` for the ids that exist."""
        rows = self.db.run(
            lambda c: c.execute(
                f"SELECT workflow_id, status, epoch, output, error FROM {self._s}.workflows "
                "WHERE workflow_id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def cancel(self, workflow_id: str) -> bool:
        """PENDING -> CANCELLED; False when the workflow is missing or already terminal."""
        rows = self.db.run(
            lambda c: (
                c.execute(
                    f"""UPDATE {self._s}.workflows
                    SET status = 'CANCELLED', lease_expires_at = NULL,
                        updated_at = clock_timestamp()
                    WHERE workflow_id = %s AND status = 'PENDING'""",
                    (workflow_id,),
                ).rowcount
            )
        )
        return rows > 0

    # -- ownership -----------------------------------------------------------------------------
    def claim(
        self,
        executor_id: str,
        *,
        names: Sequence[str],
        held: Sequence[str],
        limit: int,
        lease_s: float,
        max_recovery_attempts: int,
        detect: bool | Callable[[], bool] = True,
        locked: bool | Callable[[], bool] = False,
        announce: Announce | None = None,
    ) -> list[Claim]:
        """Claim up to ``limit`` PENDING workflows: unowned, lease-expired, owned by an executor
        whose session lock is gone (``_liveness``; only with ``detect``, while our own lock is
        held, and if that owner held its lock when it claimed or renewed), or ours but not held
        by this process (only while our lock is held: else a predecessor of our id lives).
        ``locked``: whether this claimer holds its own executor lock now (recorded with each
        claim). Both may be callables, asked again at every attempt: a claim retried across an
        outage must not act on what was true before it (a worker that re-took its lock a moment
        ago must not trust missing locks yet). With ``announce``, the new epochs are announced
        before the claim commits (module doc)."""
        params = {
            "names": list(names),
            "me": executor_id,
            "held": list(held),
            "limit": limit,
            "lease": lease_s,
            "max": max_recovery_attempts,
            "ns": self._namespace,
        }

        def fresh() -> dict[str, Any]:
            return {**params, "detect": _asked(detect), "locked": _asked(locked)}

        if announce is None:
            rows = self.db.run(lambda c: c.execute(self._claim_sql, fresh()).fetchall())
        else:
            rows, failure = self.db.run(
                lambda c: self._claim_announced_txn(c, fresh(), announce)
            )
            if failure is not None:
                raise FenceAnnouncementError(
                    f"claim rolled back: announcing the new epochs failed: {failure}"
                ) from failure
        return [Claim(r[0], r[1], list(r[2]), int(r[3]), r[4], r[5], r[6]) for r in rows]

    def _claim_announced_txn(
        self, conn: psycopg.Connection, params: dict[str, Any], announce: Announce,
    ) -> tuple[list[Any], Exception | None]:
        """The claim, its announcement and its time in one transaction: the rows claimed, or no
        rows and the announcement's exception (the transaction rolled back)."""
        with conn.transaction():
            rows = conn.execute(self._claim_sql, params).fetchall()
            live = [(str(r[0]), int(r[3])) for r in rows if r[4] == "PENDING"]
            if not live:
                return rows, None
            try:
                announce(live)
            except Exception as exc:
                failure = exc
                raise psycopg.Rollback() from exc
            # The claim takes effect now, not when its statement ran: its log time and its lease
            # start after the announcement (a slow announcement must not eat the lease).
            conn.execute(
                f"""WITH n AS (
                        SELECT * FROM unnest(%(ids)s::text[], %(eps)s::bigint[]) AS n(id, ep)
                    ), wf AS (
                        UPDATE {self._s}.workflows w SET lease_expires_at =
                            clock_timestamp() + make_interval(secs => %(lease)s)
                        FROM n WHERE w.workflow_id = n.id AND w.epoch = n.ep)
                    UPDATE {self._s}.claims c SET claimed_at = clock_timestamp()
                    FROM n WHERE c.workflow_id = n.id AND c.epoch = n.ep""",
                {"ids": [w for w, _ in live], "eps": [e for _, e in live],
                 "lease": params["lease"]},
            )
            return rows, None
        return [], failure

    def list_claims(self, workflow_id: str) -> list[ClaimInfo]:
        """The claim log of one workflow, oldest epoch first."""
        rows = self.db.run(
            lambda c: c.execute(
                f"""SELECT workflow_id, epoch, executor_id, previous_owner, reason,
                           {_NS.format(col="claimed_at")}
                    FROM {self._s}.claims WHERE workflow_id = %s ORDER BY epoch""",
                (workflow_id,),
            ).fetchall()
        )
        return [ClaimInfo(*row) for row in rows]

    def heartbeat(
        self, held: Sequence[tuple[str, int]], lease_s: float, *,
        locked: bool | Callable[[], bool] = False,
    ) -> set[str]:
        """Renew the leases of ``(workflow_id, epoch)`` pairs; returns the ids renewed.
        ``locked``: whether the renewer holds its executor lock now (see :meth:`claim`; a
        callable is asked at every attempt)."""
        return self._update_held(
            held,
            "lease_expires_at = now() + make_interval(secs => %s), owner_locked = %s",
            lambda: (lease_s, _asked(locked)),
        )

    def release(self, held: Sequence[tuple[str, int]]) -> set[str]:
        """Give up ``(workflow_id, epoch)`` pairs: no owner, lease expired, claimable at once."""
        return self._update_held(
            held, "executor_id = NULL, lease_expires_at = now(), owner_locked = false", lambda: ()
        )

    def _update_held(
        self, held: Sequence[tuple[str, int]], assignment: str,
        params: Callable[[], tuple[Any, ...]],
    ) -> set[str]:
        """``params`` is asked at every attempt (values that may change during a retry)."""
        if not held:
            return set()
        sql = f"""UPDATE {self._s}.workflows w SET {assignment}
                  FROM unnest(%s::text[], %s::bigint[]) AS h(id, ep)
                  WHERE w.workflow_id = h.id AND w.epoch = h.ep AND w.status = 'PENDING'
                  RETURNING w.workflow_id"""
        ids, epochs = [h[0] for h in held], [h[1] for h in held]
        rows = self.db.run(lambda c: c.execute(sql, (*params(), ids, epochs)).fetchall())
        return {r[0] for r in rows}

    # -- steps and outcomes --------------------------------------------------------------------
    def load_steps(self, workflow_id: str) -> dict[int, StepInfo]:
        rows = self.db.run(
            lambda c: c.execute(
                f"SELECT {_STEP_COLUMNS} FROM {self._s}.steps WHERE workflow_id = %s ORDER BY seq",
                (workflow_id,),
            ).fetchall()
        )
        return {int(r[1]): StepInfo(*r) for r in rows}

    def list_steps(self, workflow_id: str) -> list[StepInfo]:
        return list(self.load_steps(workflow_id).values())

    def record_step(self, step: StepRecordRequest) -> None:
        """Insert one step row in one round trip, fenced by epoch (see module doc)."""
        self.db.run(lambda c: self._record_step_txn(c, step))

    def _record_step_txn(self, conn: psycopg.Connection, step: StepRecordRequest) -> None:
        row = conn.execute(self._record_step_sql, step.params()).fetchone()
        if row is None:
            raise ReferenceRuntimeError(
                f"workflow {step.workflow_id!r} has no status row; it cannot record steps"
            )
        inserted, status, epoch, existing_epoch = row
        if inserted:
            return
        if status == "CANCELLED":
            raise WorkflowCancelledError(step.workflow_id)
        if status != "PENDING" or epoch != step.epoch:
            raise FencedError(
                f"workflow {step.workflow_id!r} is now at epoch {epoch} ({status}); this "
                f"execution's epoch {step.epoch} may no longer record step {step.seq}"
            )
        if existing_epoch != step.epoch:
            raise ReferenceRuntimeError(
                f"step {step.seq} of workflow {step.workflow_id!r} was already recorded by "
                f"epoch {existing_epoch}; this execution (epoch {step.epoch}) did not replay it"
            )

    def record_outcome(
        self, workflow_id: str, epoch: int, status: str, output: str, error: str | None,
        executor_id: str | None = None,
    ) -> None:
        """PENDING -> terminal, only at ``epoch``; a retry that finds its own outcome is a no-op.
        The row keeps who wrote it (``outcome_epoch``, ``outcome_executor``)."""
        self.db.run(
            lambda c: self._record_outcome_txn(
                c, workflow_id, epoch, status, output, error, executor_id
            )
        )

    def _record_outcome_txn(
        self,
        conn: psycopg.Connection,
        workflow_id: str,
        epoch: int,
        status: str,
        output: str,
        error: str | None,
        executor_id: str | None = None,
    ) -> None:
        updated = conn.execute(
            f"""UPDATE {self._s}.workflows
                SET status = %s, output = %s::jsonb, error = %s::jsonb, lease_expires_at = NULL,
                    outcome_epoch = %s, outcome_executor = %s, updated_at = clock_timestamp()
                WHERE workflow_id = %s AND epoch = %s AND status = 'PENDING'""",
            (status, output, error, epoch, executor_id, workflow_id, epoch),
        ).rowcount
        if updated:
            return
        row = conn.execute(
            f"SELECT status, epoch, outcome_epoch FROM {self._s}.workflows WHERE workflow_id = %s",
            (workflow_id,),
        ).fetchone()
        if row is not None and row[2] == epoch and row[0] == status:
            return  # our own earlier write, whose acknowledgement was lost
        if row is not None and row[0] == "CANCELLED":
            raise WorkflowCancelledError(workflow_id)
        raise FencedError(
            f"workflow {workflow_id!r} is at "
            f"{'nothing' if row is None else f'epoch {row[1]} ({row[0]})'}; this execution's "
            f"epoch {epoch} may not record its outcome"
        )


@dataclass(frozen=True, slots=True)
class StepRecordRequest:
    """The values of one step record, already JSON-encoded."""

    workflow_id: str
    seq: int
    name: str
    output: str
    error: str | None
    executor_id: str
    epoch: int

    def params(self) -> dict[str, Any]:
        return {
            "wid": self.workflow_id,
            "seq": self.seq,
            "name": self.name,
            "output": self.output,
            "error": self.error,
            "executor": self.executor_id,
            "epoch": self.epoch,
        }
