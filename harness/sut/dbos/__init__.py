"""The ``dbos`` SUT: workloads as DBOS Transact workflows (``pip install 'durabench[dbos]'``).

Worker side: :mod:`harness.sut.dbos.worker` (each context call one DBOS step, ``fan_out`` as
child workflows). Harness side, here: :class:`DbosClient` enqueues workflows with DBOS's own
``DBOSClient`` and reads DBOS's system tables back with parameterized SQL:

- ``dbos.workflow_status`` (+ ``dbos.workflow_output``) -> :class:`WorkflowRecord`; DBOS statuses
  map onto the history's (``ENQUEUED``/``DELAYED`` are still ``PENDING``,
  ``MAX_RECOVERY_ATTEMPTS_EXCEEDED`` is ``DEAD_LETTER``); the epoch is ``recovery_attempts``,
  which DBOS increments on every dispatch of the workflow;
- ``dbos.operation_outputs`` -> :class:`StepRecord`; DBOS records no executor per step, so each
  step's recorded output carries the executor id and epoch of the execution that ran it.

This module imports nothing from ``dbos`` at import time, so ``durabench suts`` can list the SUT
and :meth:`DbosSut.available` can say what to install when it is missing.

The entry point ``durabench.suts`` should load :data:`DBOS_SUT`.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

import psycopg

from harness.history import (
    JSONValue,
    Outcome,
    Property,
    StepKind,
    StepRecord,
    WorkflowRecord,
    WorkflowStatus,
)
from harness.sut._protocol import (
    ClaimRecords,
    ClientContext,
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
from harness.sut._releases import (
    InstalledRelease,
    PinnableRelease,
    ReleaseSupport,
    runtime_versions,
)
from harness.sut._worker_cli import ENV_POSTGRES, ENV_PROVIDER

APP_NAME = "durabench"
APP_VERSION = "durabench-1"
"""Pinned: DBOS recovers only PENDING workflows of its own application version, so a restarted
worker must carry the same one (DBOS's docs: set ``application_version`` explicitly)."""
QUEUE = "durabench"
"""The DBOS queue the harness enqueues to and every worker listens on."""
INSTALL = "pip install 'durabench[dbos]'"
SUPPORTED_RELEASES = ">=3.2.0"
"""``--sut dbos==X``: the worker reads its execution's ownership token (``current_owner_xid``,
new in DBOS 3.2.0) to stamp each step with its epoch; 3.0 and 3.1 lack it (the worker's import
fails), and 2.x releases (2.23.0 and 2.31.1 checked) also run ``CREATE EXTENSION "uuid-ossp"``
in their migrations, which the embedded Postgres (``pgserver``: plpgsql and vector only) cannot.
Tried in ``scenarios/test_kill.py``: 3.2.0 and 3.3.0 pass. 3.1.0 with the worker made to read
its epoch without the token still fails: the harness's own client (the installed DBOS's
``DBOSClient``) enqueues into a ``creator_xid`` column that 3.1's schema does not have."""

_STATUSES: dict[str, WorkflowStatus] = {
    "PENDING": "PENDING",
    "ENQUEUED": "PENDING",
    "DELAYED": "PENDING",
    "SUCCESS": "SUCCESS",
    "ERROR": "ERROR",
    "CANCELLED": "CANCELLED",
    "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "DEAD_LETTER",
}
_KINDS: dict[str, StepKind] = {"llm": "llm", "tool": "tool", "effect": "effect"}

_WORKFLOWS_SQL = """
SELECT s.workflow_uuid, s.parent_workflow_id, s.status, s.executor_id, s.recovery_attempts,
       COALESCE(o.output, s.output), COALESCE(o.error, s.error), s.created_at, s.updated_at
FROM dbos.workflow_status s LEFT JOIN dbos.workflow_output o USING (workflow_uuid)
WHERE s.workflow_uuid = ANY(%s) OR s.parent_workflow_id = ANY(%s)
"""
_STATUS_SQL = """
SELECT s.status, COALESCE(o.output, s.output), COALESCE(o.error, s.error)
FROM dbos.workflow_status s LEFT JOIN dbos.workflow_output o USING (workflow_uuid)
WHERE s.workflow_uuid = %s
"""
HEARTBEAT_TABLE = "durabench_executor_heartbeats"
"""Where each worker beats every :data:`HEARTBEAT_S` (the trial database, public schema): the
harness's stand-in for the connection DBOS Conductor watches. Not a DBOS table."""
HEARTBEAT_S = 0.25
HEARTBEAT_SQL = (
    f"INSERT INTO {HEARTBEAT_TABLE} (executor_id, beat_ms) "
    "VALUES (%s, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) "
    "ON CONFLICT (executor_id) DO UPDATE SET beat_ms = EXCLUDED.beat_ms"
)
HEARTBEAT_DDL = (
    f"CREATE TABLE IF NOT EXISTS {HEARTBEAT_TABLE} "
    "(executor_id text PRIMARY KEY, beat_ms bigint NOT NULL)"
)
_SILENT_SQL = (
    f"SELECT executor_id FROM {HEARTBEAT_TABLE} WHERE executor_id = ANY(%s) "
    "AND beat_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - %s"
)
_STEPS_SQL = """
SELECT workflow_uuid, function_id, function_name, output, error, child_workflow_id,
       completed_at_epoch_ms
FROM dbos.operation_outputs WHERE workflow_uuid = ANY(%s) ORDER BY workflow_uuid, function_id
"""


def sqlalchemy_url(dsn: str) -> str:
    """A libpq DSN (``key=value`` or URL) as the ``postgresql://`` URL DBOS's config takes."""
    from urllib.parse import quote, urlencode

    info = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}
    user = quote(info.pop("user", ""), safe="")
    password = info.pop("password", None)
    auth = f"{user}:{quote(password, safe='')}@" if password is not None else (
        f"{user}@" if user else "")
    host = info.pop("host", "127.0.0.1")
    port = info.pop("port", "5432")
    dbname = quote(info.pop("dbname", "postgres"), safe="")
    query = f"?{urlencode(info)}" if info else ""
    return f"postgresql://{auth}{host}:{port}/{dbname}{query}"


def _json(text: str | None) -> JSONValue:
    """A stored value as JSON (the workers store DBOS's portable JSON; never unpickled)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def status_of(dbos_status: str | None) -> WorkflowStatus:
    return _STATUSES.get(dbos_status or "", "PENDING")


def step_record(row: Sequence[Any]) -> StepRecord:
    workflow_id, function_id, name, output, error, child_id, completed_ms = row
    value = _json(output)
    stamp = value if isinstance(value, dict) else {}
    kind: StepKind = _KINDS.get(name, "child" if child_id else "other")
    return StepRecord(
        workflow_id=workflow_id,
        seq=int(function_id),
        name=name,
        kind=kind,
        step=stamp.get("step") if kind in ("llm", "tool", "effect") else None,
        executor=str(stamp.get("executor", "")),
        epoch=int(stamp.get("epoch", 0)),
        recorded_ns=int(completed_ms or 0) * 1_000_000,
        nonce=stamp.get("nonce") if kind == "llm" else None,
        error=error is not None,
    )


def _stamped(row: Sequence[Any]) -> bool:
    value = _json(row[3])
    return isinstance(value, dict) and "epoch" in value and "executor" in value


def workflow_record(row: Sequence[Any]) -> WorkflowRecord:
    wid, parent, status, executor, attempts, output, error, created_ms, updated_ms = row
    mapped = status_of(status)
    return WorkflowRecord(
        workflow_id=wid,
        parent_id=parent,
        status=mapped,
        executor=executor,
        epoch=int(attempts or 0),
        output=_json(output) if mapped == "SUCCESS" else _json(error),
        recovery_attempts=int(attempts or 0),
        created_ns=int(created_ms or 0) * 1_000_000,
        updated_ns=int(updated_ms or 0) * 1_000_000,
    )


class DbosClient:
    """Enqueues workflows through DBOS's ``DBOSClient``; reads DBOS's tables directly."""

    def __init__(self, postgres_url: str, observer: str = "harness") -> None:
        from dbos import DBOSClient
        from dbos._serialization import DBOSPortableJSONSerializer

        self._observer = observer
        self._url = postgres_url
        self._client = DBOSClient(system_database_url=sqlalchemy_url(postgres_url),
                                  application_name=APP_NAME, lazy=True,
                                  serializer=DBOSPortableJSONSerializer())  # fmt: skip
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> DbosClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._client.destroy()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one read; reconnect once when the connection died (a db_crash)."""
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                return list(self._conn.execute(sql, params).fetchall())
            except psycopg.OperationalError:
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        self._client.enqueue({"queue_name": QUEUE, "workflow_name": workload,
                              "workflow_id": workflow_id, "app_version": APP_VERSION},
                             dict(params))  # fmt: skip

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                rows = self._query(_STATUS_SQL, (workflow_id,))
            except psycopg.OperationalError:
                rows = []  # the database is down (db_crash): keep waiting
            status = status_of(rows[0][0]) if rows else None
            if rows and status != "PENDING":
                output = rows[0][1] if status == "SUCCESS" else rows[0][2]
                return Outcome(workflow_id, self._observer, status or "PENDING", _json(output),
                               time.time_ns())  # fmt: skip
            if time.monotonic() > deadline:
                state = rows[0][0] if rows else "missing"
                raise TimeoutError(f"workflow {workflow_id} still {state} after {timeout_s:.1f}s")
            time.sleep(0.05)

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        found: dict[str, WorkflowRecord] = {}
        frontier = list(root_ids)
        while frontier:
            rows = self._query(_WORKFLOWS_SQL, (frontier, frontier))
            new = [workflow_record(r) for r in rows if r[0] not in found]
            found.update((w.workflow_id, w) for w in new)
            asked = set(frontier)
            frontier = [w.workflow_id for w in new if w.workflow_id not in asked]
        return list(found.values())

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]:
        """The durabench steps DBOS recorded. Operations DBOS records for itself (starting a
        child workflow, awaiting its result) carry no stamp of the execution that wrote them, so
        they are left out rather than reported with a made-up epoch."""
        rows = self._query(_STEPS_SQL, (list(workflow_ids),))
        return [step_record(r) for r in rows if _stamped(r)]

    def silent_executors(self, executor_ids: Sequence[str], silence_s: float) -> list[str]:
        """Executors whose worker has not beaten for ``silence_s`` (server clock)."""
        try:
            rows = self._query(_SILENT_SQL, (list(executor_ids), int(silence_s * 1000)))
        except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
            return []  # no worker has beaten yet, or the database is down: nothing to judge
        return [r[0] for r in rows]

    def recover_executor(self, dead_executor: str, live_executor: str) -> list[str]:
        """What DBOS Conductor has a live executor do when one dies: DBOS's own recovery of the
        dead executor's PENDING workflows of this version (re-enqueued; a live executor of the
        same version dequeues them). ``live_executor`` is named for the record only: since DBOS
        3.x recovery is a re-enqueue, whichever live executor polls first runs the workflow."""
        from dbos._utils import INTERNAL_QUEUE_NAME

        sys_db = self._client._sys_db
        pending = sys_db.get_pending_workflows(dead_executor, APP_VERSION)
        return [p.workflow_id for p in pending
                if sys_db.reenqueue_for_recovery(p.workflow_id, [dead_executor],
                                                 INTERNAL_QUEUE_NAME)]  # fmt: skip


@dataclass(frozen=True)
class DbosSut(PinnableRelease):
    """DBOS Transact, checkpointing every step on the trial's Postgres."""

    name: str = "dbos"
    checkpointing: bool = True
    promises: frozenset[Property] = frozenset({
        "terminates", "single_outcome", "no_replay", "bounded_waste", "output_consistency",
        "effects_once", "single_active_execution",
    })  # fmt: skip
    twin: str | None = "plain"
    recovery_policies: frozenset[RecoveryPolicyName] = frozenset(
        {"restart", "delayed", "supervised", "rolling"}
    )
    durable_store: str = "postgres"
    release: InstalledRelease | None = None
    release_support: ClassVar[ReleaseSupport] = ReleaseSupport(
        ("dbos",), SUPPORTED_RELEASES,
        "the worker stamps each step with its execution's ownership token (current_owner_xid), "
        "new in DBOS 3.2.0; 2.x releases also create the uuid-ossp extension, which the "
        "embedded Postgres lacks")

    def available(self) -> str | None:
        # A pinned release too: the harness's own client (connect) runs the installed DBOS.
        if importlib.util.find_spec("dbos") is None:
            return f"DBOS Transact is not installed; run `{INSTALL}`"
        return None

    def describe(self) -> SutDescription:
        # notes.py reads this module's constants: imported here, once the module is loaded
        from harness.sut.dbos.notes import KNOWN_FINDINGS, NOTES

        version = runtime_versions(self.release_support, self.release).get("dbos",
                                                                           "not installed")
        return SutDescription(
            summary=f"DBOS Transact {version} (Python), every LLM/tool/effect call a step",
            install=INSTALL,
            notes=NOTES,
            known_findings=KNOWN_FINDINGS,
            effect_fencing=EffectFencing(
                False,
                "DBOS hands a dead executor's workflows to another one inside its own recovery "
                "(Conductor, recover_pending_workflows), and a step learns no owner number it "
                "could announce before that: effects are refused by idempotency key only"),
            claim_records=ClaimRecords(
                True, "a recovery raises workflow_status.recovery_attempts (the epoch here) and "
                "sets executor_id on the workflow's row when it starts the workflow again"),
            store_retry=StoreRetry(
                False, "DBOS has no store retry window to outlast: a workflow that loses its "
                "system database blocks and retries the operation until the database answers, "
                "with no overall deadline (dbos._sys_db.db_retry), so no execution gives up on "
                "its store and none is left for a later claim"),
        )

    def services(self, ctx: ServiceContext) -> Sequence[Service]:
        return ()

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand:
        o = spec.options
        argv = (
            self.python, "-m", "harness.sut.dbos.worker",
            "--workload", spec.workload,
            "--executor-id", spec.executor_id,
            "--poll", str(o.poll_s),
            "--grace", str(o.grace_s),
            "--max-recovery-attempts", str(o.max_recovery_attempts),
        )  # fmt: skip
        return WorkerCommand(argv, {ENV_POSTGRES: spec.postgres_url,
                                    ENV_PROVIDER: spec.provider_url, **self._worker_env()})

    def connect(self, ctx: ClientContext) -> SutClient:
        return DbosClient(ctx.postgres_url)


DBOS_SUT = DbosSut()
"""What the ``durabench.suts`` entry point ``dbos`` loads."""
