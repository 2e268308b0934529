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
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Protocol

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
    DurableSleep,
    EffectFencing,
    HandOverFailed,
    QueueLimits,
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
from harness.sut.dbos._features import (
    EPOCH_WITHOUT_TOKEN,
    OLDEST,
    DbosFeatures,
    features_of,
    installed_features,
)
from harness.sut.dbos._release_process import ReleaseClientProcess

APP_NAME = "durabench"
APP_VERSION = "durabench-1"
"""Pinned: DBOS recovers only PENDING workflows of its own application version, so a restarted
worker must carry the same one (DBOS's docs: set ``application_version`` explicitly)."""
QUEUE = "durabench"
"""The DBOS queue the harness enqueues to and every worker listens on."""
INSTALL = "pip install 'durabench[dbos]'"
SUPPORTED_RELEASES = f">={OLDEST}"
"""``--sut dbos==X``: releases from 2.14.0, the first with the portable JSON serializer the
adapter stores values with. What differs between releases is decided in
:mod:`harness.sut.dbos._features`: before 3.2.0 the worker reads its epoch without an ownership
token (weaker evidence, :data:`EPOCH_WITHOUT_TOKEN`); a pinned release's own ``DBOSClient``
starts workflows (:mod:`harness.sut.dbos.release_client`); before 3.0.0 the migrations create
the ``uuid-ossp`` extension, so the trial's Postgres is one with contrib
(:attr:`DbosSut.postgres_extensions`)."""

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
# Before DBOS 3.0.0 (no dbos.workflow_output table): outputs are workflow_status's own columns.
_WORKFLOWS_SQL_2 = """
SELECT s.workflow_uuid, s.parent_workflow_id, s.status, s.executor_id, s.recovery_attempts,
       s.output, s.error, s.created_at, s.updated_at
FROM dbos.workflow_status s
WHERE s.workflow_uuid = ANY(%s) OR s.parent_workflow_id = ANY(%s)
"""
_STATUS_SQL_2 = (
    "SELECT s.status, s.output, s.error FROM dbos.workflow_status s WHERE s.workflow_uuid = %s")
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
RECOVERY_TABLE = "durabench_recovery_requests"
"""The supervisor's messages to a live executor (the trial database, public schema): the
harness's stand-in for DBOS Conductor's channel. Each row asks ``live_executor`` to recover
``dead_executor``; the worker runs DBOS's own ``DBOS._recover_pending_workflows`` -- what
Conductor has a live executor run -- and writes the answer (``answered``, the ids it returned,
or the error it raised). Not a DBOS table."""
RECOVERY_DDL = (
    f"CREATE TABLE IF NOT EXISTS {RECOVERY_TABLE} (request_id text PRIMARY KEY, "
    "live_executor text NOT NULL, dead_executor text NOT NULL, "
    "answered boolean NOT NULL DEFAULT false, workflows jsonb, error text)"
)
RECOVERY_ASKED_SQL = (
    f"SELECT request_id, dead_executor FROM {RECOVERY_TABLE} "
    "WHERE live_executor = %s AND NOT answered"
)
RECOVERY_ANSWER_SQL = (
    f"UPDATE {RECOVERY_TABLE} SET answered = true, workflows = %s, error = %s "
    "WHERE request_id = %s"
)
RECOVERY_ANSWER_S = 10.0
"""How long the supervisor waits for a live executor's answer (DBOS's recovery re-enqueues the
dead executor's workflows: quick) before it asks again."""
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
    """Starts workflows through DBOS's ``DBOSClient`` (the installed one, or a pinned release's in
    that release's interpreter: :mod:`harness.sut.dbos.release_client`); hands a dead executor
    over by asking a live worker to run DBOS's own recovery (:meth:`recover_executor`); reads
    DBOS's tables directly, with the SQL of the release's schema."""

    def __init__(self, postgres_url: str, observer: str = "harness",
                 release: InstalledRelease | None = None) -> None:  # fmt: skip
        self._observer = observer
        self._url = postgres_url
        self._features = (installed_features() if release is None
                          else features_of(release.version_of("dbos")))  # fmt: skip
        self._writer: _Writer = (_InProcessWriter(postgres_url, self._features) if release is None
                                 else ReleaseClientProcess(release, postgres_url))  # fmt: skip
        self._workflows_sql = _WORKFLOWS_SQL if self._features.output_table else _WORKFLOWS_SQL_2
        self._status_sql = _STATUS_SQL if self._features.output_table else _STATUS_SQL_2
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> DbosClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._writer.close()
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
        self._writer.enqueue(workload, workflow_id, params)

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                rows = self._query(self._status_sql, (workflow_id,))
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
            rows = self._query(self._workflows_sql, (frontier, frontier))
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
        """What DBOS Conductor has a live executor do when one dies: run DBOS's own recovery,
        ``DBOS._recover_pending_workflows([dead_executor])``, in ``live_executor``'s launched
        worker. The request and the answer go through :data:`RECOVERY_TABLE` (the stand-in for
        Conductor's channel); returns the ids DBOS returned. Raises :class:`HandOverFailed`
        when DBOS's recovery raised, or no answer came within :data:`RECOVERY_ANSWER_S` (the
        executor is frozen, cut off or gone): the supervisor then asks again."""
        request_id = f"recover-{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + RECOVERY_ANSWER_S
        self._ask(request_id, live_executor, dead_executor, deadline)
        while time.monotonic() < deadline:
            try:
                rows = self._query(f"SELECT workflows, error FROM {RECOVERY_TABLE} "
                                   "WHERE request_id = %s AND answered", (request_id,))
            except psycopg.OperationalError:
                rows = []  # the database is down: keep waiting for the answer
            if rows:
                workflows, error = rows[0]
                if error:
                    raise HandOverFailed(f"DBOS's recovery of {dead_executor} on "
                                         f"{live_executor} raised {error}")
                return [str(w) for w in workflows or []]
            time.sleep(0.05)
        raise HandOverFailed(f"{live_executor} did not answer the request to recover "
                             f"{dead_executor} within {RECOVERY_ANSWER_S:g}s")

    def _ask(self, request_id: str, live: str, dead: str, deadline: float) -> None:
        while True:
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(RECOVERY_DDL)
                    conn.execute(f"INSERT INTO {RECOVERY_TABLE} (request_id, live_executor, "
                                 "dead_executor) VALUES (%s, %s, %s)", (request_id, live, dead))
                return
            except psycopg.Error as exc:  # down, or a worker creating the table at this moment
                if time.monotonic() >= deadline:
                    raise HandOverFailed(f"could not ask {live} to recover {dead}: "
                                         f"{type(exc).__name__}: {exc}") from exc
                time.sleep(0.1)


class _Writer(Protocol):
    def enqueue(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        ...

    def close(self) -> None: ...


class _InProcessWriter:
    """The installed DBOS's ``DBOSClient``, in the harness's process."""

    def __init__(self, postgres_url: str, features: DbosFeatures) -> None:
        from harness.sut.dbos import release_client

        self._features = features
        self._client = release_client.make_client(postgres_url, features)

    def enqueue(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        from harness.sut.dbos.release_client import enqueue

        enqueue(self._client, workload, workflow_id, params)

    def close(self) -> None:
        self._client.destroy()


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
        f"the adapter stores values with DBOS's portable JSON serializer, new in DBOS {OLDEST}")

    @property
    def features(self) -> DbosFeatures:
        """What the release it runs offers (the installed one when unpinned)."""
        if self.release is not None:
            return features_of(self.release.version_of("dbos"))
        return installed_features()

    @property
    def postgres_extensions(self) -> frozenset[str]:
        """Postgres extensions its release creates in the trial database (uuid-ossp before
        DBOS 3.0.0): the local environment then runs a Postgres that has them."""
        if self.release is None:
            return frozenset()  # the installed DBOS (3.x, the durabench[dbos] extra)
        return self.features.postgres_extensions

    def available(self) -> str | None:
        # A pinned release too: the harness's own client (connect) runs the installed DBOS.
        if importlib.util.find_spec("dbos") is None:
            return f"DBOS Transact is not installed; run `{INSTALL}`"
        return None

    def describe(self) -> SutDescription:
        # notes.py reads this module's constants: imported here, once the module is loaded
        from harness.sut.dbos.notes import KNOWN_FINDINGS, NOTES, release_notes

        version = runtime_versions(self.release_support, self.release).get("dbos",
                                                                           "not installed")
        return SutDescription(
            summary=f"DBOS Transact {version} (Python), every LLM/tool/effect call a step",
            install=INSTALL,
            notes=NOTES if self.release is None or self.features.owner_token
            else (*NOTES, EPOCH_WITHOUT_TOKEN, *release_notes(self.features)),
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
            durable_sleep=DurableSleep(
                True, "DBOS.sleep records the wake-up time as a step of the workflow; a "
                "recovered execution sleeps only what is left"),
            queue_limits=QueueLimits(
                True, True, "the queue the harness enqueues to is registered with "
                "concurrency=queue_concurrency (across every executor) and "
                "worker_concurrency=worker_concurrency (per executor id); DBOS counts a PENDING "
                "workflow against both until its executor finishes it or a recovery puts it "
                "back on the queue"),
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
            "--queue-concurrency", str(o.queue_concurrency),
            "--worker-concurrency", str(o.worker_concurrency),
        )  # fmt: skip
        return WorkerCommand(argv, {ENV_POSTGRES: spec.postgres_url,
                                    ENV_PROVIDER: spec.provider_url, **self._worker_env()})

    def connect(self, ctx: ClientContext) -> SutClient:
        return DbosClient(ctx.postgres_url, release=self.release)


DBOS_SUT = DbosSut()
"""What the ``durabench.suts`` entry point ``dbos`` loads."""
