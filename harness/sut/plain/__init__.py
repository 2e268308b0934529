"""The ``plain`` SUT: the agent loop with no durable runtime at all.

What a team without durable execution runs: an ordinary worker process that takes a job from a
queue and runs the agent loop from its first step. When the worker dies, the job is run again
from step 0 by its replacement, as a retrying job queue would. Nothing between the first and the
last step is recorded, so every crash redoes (and re-bills) every step before it. It is the
honest checkpointing-off ``twin`` of peers that cannot switch checkpointing off.

The queue is one table in the trial's Postgres (:data:`JOBS_TABLE`): job id, workload, params,
status, the executor holding it, a claim counter (``attempt``), a lease and the output. No step
records. Workers (``python -m harness.sut.plain.worker``) claim jobs with
``FOR UPDATE SKIP LOCKED``:
- a pending job nobody holds;
- a job held by their own executor id that they are not running (a restarted worker: its
  previous incarnation's work died with it, as after a pod restart);
- a job whose lease expired (the queue's visibility timeout: a standby takes over).
Holders renew the lease by heartbeat, and check before every call that their claim is still
the job's latest (a worker that finds its lease lost stops). The first execution to finish writes
the outcome (``WHERE status = 'PENDING'``); a later one's write is a no-op. Nothing fences the
moment between a check and the call it guards: a worker paused there still makes that call.

Promises: terminates, single_outcome, effects_once (idempotency keys at the effect sink). Not
output_consistency (a zombie can win the outcome write), nor anything that needs step records.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from harness.history import JSONValue, Outcome, Property, StepRecord, WorkflowRecord
from harness.sut._lease_loop import CLAIM_POLL
from harness.sut._protocol import (
    ClientContext,
    DurableSleep,
    EffectFencing,
    RecoveryPolicyName,
    Service,
    ServiceContext,
    StoreRetry,
    SutClient,
    SutDescription,
    WorkerCommand,
    WorkerSpec,
)
from harness.sut._worker_cli import ENV_POSTGRES, ENV_PROVIDER

T = TypeVar("T")
log = logging.getLogger("plain")

JOBS_TABLE = "durabench_plain_jobs"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {JOBS_TABLE} (
    job_id      text PRIMARY KEY,
    parent_id   text,
    workload    text NOT NULL,
    params      jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'PENDING',
    executor    text,
    attempt     integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    output      jsonb,
    created_ns  bigint NOT NULL,
    updated_ns  bigint NOT NULL
)
"""
"""``status``: PENDING, SUCCESS, ERROR or DEAD_LETTER (claimed more than the attempt limit).
``attempt`` counts claims and ``executor`` is the latest claimer (the workflow record's epoch and
executor); the outcome is whichever execution finished first, possibly a superseded one."""

_COLUMNS = "job_id, parent_id, status, executor, attempt, output, created_ns, updated_ns"


def connect(dsn: str) -> psycopg.Connection:
    """An autocommit connection that notices a dead link (keepalives, TCP user timeout)."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=3, keepalives=1,
                           keepalives_idle=2, keepalives_interval=1, keepalives_count=3,
                           tcp_user_timeout=5000)  # fmt: skip


class Queue:
    """One autocommit connection shared by threads; reconnects on connection errors."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    @property
    def dsn(self) -> str:
        return self._dsn

    def run(self, op: Callable[[psycopg.Connection], T], *, retry_s: float) -> T:
        """Run ``op`` (idempotent), retrying on a fresh connection until ``retry_s`` passed."""
        deadline, delay = time.monotonic() + retry_s, 0.05
        while True:
            try:
                with self._lock:
                    if self._conn is None or self._conn.closed:
                        self._conn = connect(self._dsn)
                    return op(self._conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                with self._lock:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                if time.monotonic() > deadline:
                    raise
                log.warning("postgres unreachable (%s); retrying", type(exc).__name__)
                time.sleep(delay)
                delay = min(1.0, delay * 2)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None


def ensure_schema(conn: psycopg.Connection) -> None:
    # another process may create it at the same moment
    with contextlib.suppress(psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
        conn.execute(SCHEMA)


def _record(row: tuple[Any, ...]) -> WorkflowRecord:
    job_id, parent_id, status, executor, attempt, output, created_ns, updated_ns = row
    return WorkflowRecord(
        workflow_id=job_id, parent_id=parent_id, status=status, executor=executor,
        epoch=int(attempt), output=output, recovery_attempts=max(0, int(attempt) - 1),
        created_ns=int(created_ns), updated_ns=int(updated_ns),
    )  # fmt: skip


class PlainClient:
    """Submits jobs and reads the job table; never runs a job itself. Rides out a Postgres
    restart (reconnects for up to a minute)."""

    def __init__(self, postgres_url: str, observer: str = "harness") -> None:
        self._observer = observer
        self._db = Queue(postgres_url)
        self._db.run(ensure_schema, retry_s=60.0)

    def __enter__(self) -> PlainClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._db.run(lambda c: c.execute(sql, params).fetchall(), retry_s=60.0)

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        now = time.time_ns()
        self._db.run(lambda c: c.execute(
            f"INSERT INTO {JOBS_TABLE} (job_id, workload, params, created_ns, updated_ns) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
            (workflow_id, workload, Jsonb(dict(params)), now, now)), retry_s=60.0)  # fmt: skip

    def _get(self, workflow_id: str) -> WorkflowRecord | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM {JOBS_TABLE} WHERE job_id = %s",
                          (workflow_id,))  # fmt: skip
        return _record(rows[0]) if rows else None

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        while True:
            record = self._get(workflow_id)
            if record is not None and record.status != "PENDING":
                return Outcome(workflow_id, self._observer, record.status, record.output,
                               time.time_ns())  # fmt: skip
            if time.monotonic() > deadline:
                state = record.status if record else "missing"
                raise TimeoutError(f"job {workflow_id} still {state} after {timeout_s:.1f}s")
            time.sleep(0.05)

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM {JOBS_TABLE} WHERE job_id = ANY(%s) OR parent_id = ANY(%s) "
            "ORDER BY created_ns", (list(root_ids), list(root_ids)))  # fmt: skip
        return [_record(r) for r in rows]

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]:
        return []  # a plain worker records no steps


@dataclass(frozen=True)
class PlainSut:
    """No durable runtime: a job table and workers that run the agent loop from step 0."""

    name: str = "plain"
    checkpointing: bool = False
    promises: frozenset[Property] = frozenset({"terminates", "single_outcome", "effects_once"})
    twin: str | None = None
    recovery_policies: frozenset[RecoveryPolicyName] = frozenset(
        {"restart", "delayed", "standby", "rolling"}
    )
    durable_store: str = "postgres"

    def available(self) -> str | None:
        return None

    def describe(self) -> SutDescription:
        return SutDescription(
            summary="no durable runtime: a job table and a worker that reruns the agent loop "
                    "from its first step",
            install="",
            notes=(
                f"jobs in a table ({JOBS_TABLE}) of the trial's Postgres, claimed with FOR "
                "UPDATE SKIP LOCKED; no step records",
                "restart/delayed: the replacement (same executor id) reclaims its job at once; "
                "standby: a second worker claims it when its lease (the queue's visibility "
                "timeout) expires",
                "no fencing: a worker checks it still holds the job before each call and "
                "stops when it lost it, but a pause between check and call still lets one "
                "superseded call through; the first execution to finish writes the outcome",
            ),
            known_findings={
                "degrade::slow_reconnect": "the worker opens its queue connection with a fixed "
                "connect_timeout of 3 s (connect()) and retries a timed-out connect with the "
                "same bound: over a link whose connect takes four 1.5 s answers (6 s) it never "
                "reconnects, and the job finishes only once the link is fast again",
            },
            effect_fencing=EffectFencing(
                False, "the plain baseline keeps no epoch (no fencing at all): effects are "
                "refused by idempotency key only"),
            store_retry=StoreRetry(
                False, "the plain loop never leaves a job without an outcome: a worker that "
                "cannot check its claim for 60 s fails the job (an ERROR outcome, written with "
                "an hour's retry), and its outcome write outlasts any outage"),
            durable_sleep=DurableSleep(
                False, "the plain loop records nothing: a rerun of the job sleeps the whole "
                "sleep again"),
            claim_poll=CLAIM_POLL,
        )

    def services(self, ctx: ServiceContext) -> Sequence[Service]:
        return ()

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand:
        o = spec.options
        argv = (
            sys.executable, "-m", "harness.sut.plain.worker",
            "--workload", spec.workload,
            "--executor-id", spec.executor_id,
            "--lease", str(o.lease_s),
            "--heartbeat", str(o.heartbeat_s),
            "--poll", str(o.poll_s),
            "--grace", str(o.grace_s),
            "--max-attempts", str(o.max_recovery_attempts + 1),
        )  # fmt: skip
        return WorkerCommand(argv, {ENV_POSTGRES: spec.postgres_url,
                                    ENV_PROVIDER: spec.provider_url})

    def connect(self, ctx: ClientContext) -> SutClient:
        return PlainClient(ctx.postgres_url)


PLAIN = PlainSut()
"""Entry point ``durabench.suts: plain``."""
