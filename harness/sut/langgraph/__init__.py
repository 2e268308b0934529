"""The ``langgraph`` and ``langgraph-nockpt`` SUTs: workloads as LangGraph functional-API
entrypoints with LangGraph's own ``PostgresSaver`` (``pip install 'durabench[langgraph]'``).

Each workload runs as one ``@entrypoint``; every context call is one ``@task`` (``llm``, ``tool``,
``effect``, ``child``). ``langgraph`` invokes with ``durability="sync"`` (every task's result is
saved as the task finishes -- submitted in the background: "sync" orders checkpoints, not task
writes); ``langgraph-nockpt`` with ``durability="exit"`` (LangGraph saves only when the run
exits, so a crash leaves nothing to resume: its checkpointing-off twin).

**LangGraph resumes nothing by itself.** A crashed run stays where it was until someone calls
``invoke(None, {"configurable": {"thread_id": ...}})``. The worker loop that does it is the
adapter's (:mod:`harness.sut.langgraph.worker`), the minimal loop a deployer must write, not
LangGraph's: a table of started threads (:data:`THREADS_TABLE`, the adapter's own), claimed with
``FOR UPDATE SKIP LOCKED`` under a lease renewed by heartbeat, as ``plain``'s job queue does. The
lease only decides who invokes a thread next; LangGraph has no fencing, so a superseded (paused)
worker that wakes up runs on and writes its checkpoints beside the new owner's.

Harness side, here: :class:`LangGraphClient` registers threads in that table and reads LangGraph's
own tables back:

- ``checkpoints``: the thread's latest checkpoint is final when its ``__end__`` channel holds the
  entrypoint's return value (``SUCCESS`` with that output); ``ERROR``/``DEAD_LETTER`` are the
  loop's decisions, kept in the adapter's table; everything else is ``PENDING``;
- ``checkpoint_writes``: one ``__return__`` write per finished task -> :class:`StepRecord`. The
  writes carry no executor and no time, so each task's return value carries the executor id and
  attempt of the execution that ran it (also put into every checkpoint's metadata through
  ``config["metadata"]``), and triggers of the adapter's own log when each write and each
  checkpoint landed (:data:`LANDED_TABLE`, server clock: a final checkpoint's time is the
  workflow record's ``updated_ns``).

This module imports nothing from ``langgraph`` at import time, so ``durabench suts`` can list the
SUTs and :meth:`LangGraphSut.available` can say what to install.

Entry points ``durabench.suts``: :data:`LANGGRAPH` and :data:`LANGGRAPH_NOCKPT`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from harness.history import (
    JSONValue,
    Outcome,
    Property,
    StepKind,
    StepRecord,
    WorkflowRecord,
    WorkflowStatus,
)
from harness.sut._lease_loop import CLAIM_POLL
from harness.sut._protocol import (
    ClaimRecords,
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
from harness.sut._releases import (
    InstalledRelease,
    PinnableRelease,
    ReleaseSupport,
    runtime_versions,
)
from harness.sut._worker_cli import ENV_POSTGRES, ENV_PROVIDER

T = TypeVar("T")
Durability = Literal["sync", "exit"]

INSTALL = "pip install 'durabench[langgraph]'"
SUPPORTED_RELEASES = ">=0.6.0"
"""``--sut langgraph==X``: LangGraph releases the worker runs with, the Postgres checkpointer at
the newest release compatible with it (tried: 0.6.0 and 0.6.11 pass the kill scenario; 0.5.4's
workflow ends in ERROR: ``invoke(..., durability=...)`` is new in 0.6.0). The harness's own
client reads the checkpoints with the installed checkpointer."""
META_EXECUTOR = "durabench_executor"
META_ATTEMPT = "durabench_attempt"
"""Keys of ``config["metadata"]``, which LangGraph copies into every checkpoint's metadata."""

THREADS_TABLE = "durabench_langgraph_threads"
"""The adapter's resume loop's own table (not LangGraph's): one row per started thread."""
LANDED_TABLE = "durabench_langgraph_landed"
"""When each of LangGraph's ``checkpoint_writes`` rows landed (an AFTER INSERT trigger of the
adapter's own: LangGraph stores no time with a write)."""

CHECKPOINT_IDX = -1000
"""``idx`` of a checkpoint's own row in :data:`LANDED_TABLE` (``task_id`` ''): writes use >= -4."""

SCHEMA: tuple[str, ...] = (f"""
CREATE TABLE IF NOT EXISTS {THREADS_TABLE} (
    thread_id   text PRIMARY KEY,
    parent_id   text,
    workload    text NOT NULL,
    params      jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'PENDING',
    executor    text,
    attempt     integer NOT NULL DEFAULT 0,
    lease_until timestamptz,
    error       jsonb,
    created_ns  bigint NOT NULL,
    updated_ns  bigint NOT NULL
)""", f"""
CREATE TABLE IF NOT EXISTS {LANDED_TABLE} (
    thread_id     text NOT NULL,
    checkpoint_id text NOT NULL,
    task_id       text NOT NULL,
    idx           integer NOT NULL,
    landed_ns     bigint NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_id, task_id, idx)
)""", f"""
CREATE OR REPLACE FUNCTION {LANDED_TABLE}_log() RETURNS trigger AS $$
BEGIN
    INSERT INTO {LANDED_TABLE} VALUES (NEW.thread_id, NEW.checkpoint_id, NEW.task_id, NEW.idx,
        (extract(epoch FROM clock_timestamp()) * 1e9)::bigint) ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$ LANGUAGE plpgsql""",
    f"CREATE OR REPLACE TRIGGER {LANDED_TABLE}_trigger AFTER INSERT ON checkpoint_writes "
    f"FOR EACH ROW EXECUTE FUNCTION {LANDED_TABLE}_log()",
    f"""
CREATE OR REPLACE FUNCTION {LANDED_TABLE}_checkpoint_log() RETURNS trigger AS $$
BEGIN
    INSERT INTO {LANDED_TABLE} VALUES (NEW.thread_id, NEW.checkpoint_id, '', {CHECKPOINT_IDX},
        (extract(epoch FROM clock_timestamp()) * 1e9)::bigint) ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$ LANGUAGE plpgsql""",
    f"CREATE OR REPLACE TRIGGER {LANDED_TABLE}_checkpoint_trigger AFTER INSERT ON checkpoints "
    f"FOR EACH ROW EXECUTE FUNCTION {LANDED_TABLE}_checkpoint_log()",
)
"""``status``: PENDING until the loop saw the invoke return (SUCCESS), raise (ERROR), or the
thread was claimed more than the attempt limit (DEAD_LETTER). ``attempt`` counts claims."""

_KINDS: dict[str, StepKind] = {"llm": "llm", "tool": "tool", "effect": "effect",
                               "child": "child"}  # fmt: skip
_WRITES_SQL = f"""
SELECT w.thread_id, w.task_path, w.type, w.blob, l.landed_ns
FROM checkpoint_writes w LEFT JOIN {LANDED_TABLE} l USING (thread_id, checkpoint_id, task_id, idx)
WHERE w.thread_id = ANY(%s) AND w.checkpoint_ns = '' AND w.channel = '__return__'
ORDER BY w.thread_id, w.task_path
"""
_LANDED_SQL = (f"SELECT landed_ns FROM {LANDED_TABLE} WHERE thread_id = %s AND checkpoint_id = %s "
               f"AND task_id = '' AND idx = {CHECKPOINT_IDX}")  # fmt: skip
_THREADS_SQL = (f"SELECT thread_id, parent_id, status, executor, attempt, error, created_ns, "
                f"updated_ns FROM {THREADS_TABLE} WHERE thread_id = ANY(%s) OR parent_id = ANY(%s)"
                " ORDER BY created_ns")  # fmt: skip


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection that notices a dead link (keepalives, TCP user timeout)."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=3, keepalives=1,
                           keepalives_idle=2, keepalives_interval=1, keepalives_count=3,
                           tcp_user_timeout=5000, prepare_threshold=0)  # fmt: skip


def ensure_schema(dsn: str) -> None:
    """LangGraph's tables (``PostgresSaver.setup``), then the adapter's, under an advisory lock:
    the harness's client and every worker do this; a lost creation race is retried."""
    from langgraph.checkpoint.postgres import PostgresSaver

    for attempt in range(5):
        try:
            with connect(dsn) as conn:  # the session's advisory lock ends with it
                conn.execute("SELECT pg_advisory_lock(174217)")
                PostgresSaver(conn).setup()
                for statement in SCHEMA:
                    conn.execute(statement)
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable,
                psycopg.errors.DuplicateObject):  # fmt: skip
            if attempt == 4:
                raise
            time.sleep(0.1)


def cut(conn: psycopg.Connection[Any]) -> None:
    """Shut a connection's socket down: a query hung on it (a black-holed link, whose proxy
    acknowledges every packet, so no TCP timeout fires) fails at once with OperationalError."""
    with contextlib.suppress(OSError, psycopg.Error):
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextlib.contextmanager
def watchdog(conn: psycopg.Connection[Any], timeout_s: float) -> Iterator[None]:
    """Cut ``conn`` if the block is still running after ``timeout_s`` (a per-query timeout on
    the client's side, as the reference runtime's ``op_timeout_s``)."""
    timer = threading.Timer(timeout_s, cut, (conn,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class Store:
    """One autocommit connection shared by threads; reconnects on connection errors, and cuts
    a query still running after ``op_timeout_s``."""

    def __init__(self, dsn: str, op_timeout_s: float = 60.0) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._op_timeout_s = op_timeout_s

    def run(self, op: Callable[[psycopg.Connection[Any]], T], *, retry_s: float) -> T:
        """Run ``op`` (idempotent), retrying on a fresh connection until ``retry_s`` passed."""
        deadline, delay = time.monotonic() + retry_s, 0.05
        while True:
            try:
                with self._lock:
                    if self._conn is None or self._conn.closed:
                        self._conn = connect(self._dsn)
                    with watchdog(self._conn, self._op_timeout_s):
                        return op(self._conn)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                with self._lock:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(1.0, delay * 2)

    def rows(self, sql: str, params: Sequence[Any], retry_s: float = 60.0) -> list[Any]:
        return self.run(lambda c: list(c.execute(sql, params).fetchall()), retry_s=retry_s)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None


def final_output(checkpoint: Mapping[str, Any]) -> tuple[bool, Any]:
    """(True, the entrypoint's return value) when LangGraph's checkpoint is final."""
    values = checkpoint.get("channel_values") or {}
    return ("__end__" in values, values.get("__end__"))


def _seq(task_path: str) -> int:
    """The task's call counter within its entrypoint run (LangGraph's ``task_path``)."""
    parts = [p.strip() for p in task_path.split(",")]
    digits = [p for p in parts if p.isdigit()]
    return int(digits[0]) if digits else -1


def step_record(row: Sequence[Any],
                decode: Callable[[tuple[str, bytes]], Any]) -> StepRecord | None:
    thread_id, task_path, type_, blob, landed_ns = row
    value = decode((type_, bytes(blob))) if blob is not None else None
    if not isinstance(value, dict) or "durabench_kind" not in value:
        return None  # a write of LangGraph's own, not one of our tasks
    kind = _KINDS.get(str(value["durabench_kind"]), "other")
    return StepRecord(
        workflow_id=thread_id,
        seq=_seq(task_path),
        name=str(value["durabench_kind"]),
        kind=kind,
        step=value.get("step") if kind in ("llm", "tool", "effect") else None,
        executor=str(value.get("executor", "")),
        epoch=int(value.get("epoch", 0)),
        recorded_ns=int(landed_ns or 0),
        nonce=value.get("nonce") if kind == "llm" else None,
    )


class LangGraphClient:
    """Registers threads in the adapter's table (the workers' loop invokes them); reads LangGraph's
    checkpoint tables and the adapter's table back. Rides out a Postgres restart."""

    def __init__(self, postgres_url: str, observer: str = "harness") -> None:
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        self._observer = observer
        self._dsn = postgres_url
        ensure_schema(postgres_url)
        self._store = Store(postgres_url)
        self._serde = JsonPlusSerializer()
        self._saver_type = PostgresSaver

    def __enter__(self) -> LangGraphClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._store.close()

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        now = time.time_ns()
        self._store.run(lambda c: c.execute(
            f"INSERT INTO {THREADS_TABLE} (thread_id, workload, params, created_ns, updated_ns) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (thread_id) DO NOTHING",
            (workflow_id, workload, Jsonb(dict(params)), now, now)), retry_s=60.0)  # fmt: skip

    def _final(self, thread_id: str) -> tuple[bool, Any, int]:
        """(final?, output, when it landed) of the thread's latest checkpoint, as LangGraph
        reads it."""
        def op(conn: psycopg.Connection[Any]) -> tuple[bool, Any, int]:
            tup = self._saver_type(conn).get_tuple({"configurable": {"thread_id": thread_id}})
            if tup is None:
                return False, None, 0
            done, output = final_output(tup.checkpoint)
            row = conn.execute(_LANDED_SQL, (thread_id, tup.checkpoint["id"])).fetchone()
            return done, output, int(row[0]) if row else 0

        return self._store.run(op, retry_s=60.0)

    def _record(self, row: Sequence[Any]) -> WorkflowRecord:
        thread_id, parent_id, status, executor, attempt, error, created_ns, updated_ns = row
        done, output, landed_ns = self._final(thread_id)
        mapped: WorkflowStatus = "SUCCESS" if done else (
            status if status in ("ERROR", "DEAD_LETTER") else "PENDING")
        return WorkflowRecord(
            workflow_id=thread_id, parent_id=parent_id, status=mapped, executor=executor,
            epoch=int(attempt), output=output if done else error,
            recovery_attempts=max(0, int(attempt) - 1), created_ns=int(created_ns),
            updated_ns=landed_ns if done and landed_ns else int(updated_ns),
        )  # fmt: skip

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = self._store.rows(_THREADS_SQL, ([workflow_id], []))
            record = self._record(rows[0]) if rows else None
            if record is not None and record.status != "PENDING":
                return Outcome(workflow_id, self._observer, record.status, record.output,
                               time.time_ns())  # fmt: skip
            if time.monotonic() > deadline:
                state = record.status if record else "missing"
                raise TimeoutError(f"thread {workflow_id} still {state} after {timeout_s:.1f}s")
            time.sleep(0.05)

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        rows = self._store.rows(_THREADS_SQL, (list(root_ids), list(root_ids)))
        return [self._record(r) for r in rows]

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]:
        rows = self._store.rows(_WRITES_SQL, (list(workflow_ids),))
        found = [step_record(r, self._serde.loads_typed) for r in rows]
        return [r for r in found if r is not None]


@dataclass(frozen=True)
class LangGraphSut(PinnableRelease):
    """LangGraph with ``PostgresSaver``; ``durability`` says when it checkpoints."""

    name: str
    checkpointing: bool
    promises: frozenset[Property]
    twin: str | None
    durability: Durability
    recovery_policies: frozenset[RecoveryPolicyName] = frozenset(
        {"restart", "delayed", "standby", "rolling"}
    )
    durable_store: str = "postgres"
    release: InstalledRelease | None = None
    release_support: ClassVar[ReleaseSupport] = ReleaseSupport(
        ("langgraph", "langgraph-checkpoint-postgres"), SUPPORTED_RELEASES,
        "the worker invokes with durability=..., new in LangGraph 0.6.0")

    def available(self) -> str | None:
        for module in ("langgraph", "langgraph.checkpoint.postgres", "psycopg_pool"):
            with contextlib.suppress(ModuleNotFoundError):
                if importlib.util.find_spec(module) is not None:
                    continue
            return f"LangGraph is not installed ({module} is missing); run `{INSTALL}`"
        return None

    def describe(self) -> SutDescription:
        # notes.py reads this module's constants: imported here, once the module is loaded
        from harness.sut.langgraph.notes import CONNECT_FINDINGS, KNOWN_FINDINGS, NOTES

        versions = runtime_versions(self.release_support, self.release)
        version = versions.get("langgraph", "not installed")
        mode = ("checkpointing every task before the next (durability='sync')"
                if self.durability == "sync" else
                "checkpointing only when a run exits (durability='exit'): a crash restarts "
                "the thread from its input")  # fmt: skip
        return SutDescription(
            summary=f"LangGraph {version} functional API on PostgresSaver, {mode}; resumed by "
                    "the adapter's worker loop, not by LangGraph",
            install=INSTALL,
            notes=NOTES,
            known_findings={**(KNOWN_FINDINGS if self.checkpointing else {}),
                            **CONNECT_FINDINGS},
            effect_fencing=EffectFencing(
                False,
                "a thread has no owner: the resume loop is the adapter's and LangGraph keeps no"
                " epoch to announce: effects are refused by idempotency key only"),
            claim_records=ClaimRecords(
                True, "the adapter's resume loop claims a thread in its threads table (attempt "
                "+ 1, executor set) before it invokes the graph"),
            claim_poll=CLAIM_POLL,
            store_retry=StoreRetry(
                True, "store_retry_s is the adapter's write_retry_s (WatchedSaver, default "
                "120 s; the pool's checkout wait is capped by it too): how long a failed "
                "checkpoint or task write is retried; past it the run fails and the adapter's "
                "resume loop invokes the thread again from its latest checkpoint once the "
                "database answers (LangGraph itself retries nothing). The run can fail later than "
                "the window (why is not pinned down yet): with 4 s, a checkpointing run gave "
                "up 14 s after the cut"),
            durable_sleep=DurableSleep(
                self.checkpointing,
                "the adapter computes the wake-up time in a task (LangGraph has no sleep of its "
                "own), so its checkpointed result makes the sleep durable"
                if self.checkpointing else "checkpointing off: the wake-up time is not kept, "
                "and a run invoked again sleeps the whole sleep again"),
        )

    def services(self, ctx: ServiceContext) -> Sequence[Service]:
        return ()

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand:
        o = spec.options
        argv: tuple[str, ...] = (
            self.python, "-m", "harness.sut.langgraph.worker",
            "--workload", spec.workload,
            "--executor-id", spec.executor_id,
            "--durability", self.durability,
            "--lease", str(o.lease_s),
            "--heartbeat", str(o.heartbeat_s),
            "--poll", str(o.poll_s),
            "--grace", str(o.grace_s),
            "--max-attempts", str(o.max_recovery_attempts + 1),
        )  # fmt: skip
        if o.store_retry_s is not None:
            argv += ("--write-retry", str(o.store_retry_s))
        return WorkerCommand(argv, {ENV_POSTGRES: spec.postgres_url,
                                    ENV_PROVIDER: spec.provider_url, **self._worker_env()})

    def connect(self, ctx: ClientContext) -> SutClient:
        return LangGraphClient(ctx.postgres_url)


LANGGRAPH = LangGraphSut(
    "langgraph", checkpointing=True, durability="sync", twin="langgraph-nockpt",
    promises=frozenset({"terminates", "no_replay", "effects_once"}),
)  # fmt: skip
"""Entry point ``durabench.suts: langgraph``."""
LANGGRAPH_NOCKPT = LangGraphSut(
    "langgraph-nockpt", checkpointing=False, durability="exit", twin=None,
    promises=frozenset({"terminates", "effects_once"}),
)  # fmt: skip
"""Entry point ``durabench.suts: langgraph-nockpt``."""
