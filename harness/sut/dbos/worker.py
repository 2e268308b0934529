"""Worker entry point of the ``dbos`` SUT: ``python -m harness.sut.dbos.worker --workload
research_agent`` with the DSN and provider URL in ``DURABENCH_WORKER_POSTGRES_URL`` and
``DURABENCH_WORKER_PROVIDER_URL`` (never in argv).

The workload runs as a DBOS workflow; each context call is one DBOS step (``llm``, ``tool``,
``effect``) and ``fan_out`` starts DBOS child workflows. Deployed as DBOS's self-hosting docs
describe: executor id from the config (``--executor-id``), a pinned ``application_version``
(:data:`APP_VERSION`) so a restarted worker recovers what it left PENDING, the system database on
the trial's Postgres, values stored as DBOS's portable JSON (never pickle).

Lifecycle:
1. register the workflows and steps, configure and ``DBOS.launch()`` (which recovers this
   executor's PENDING workflows of this version: DBOS's startup recovery);
2. register the :data:`QUEUE` the harness enqueues to, print ``worker <executor id> ready``;
3. beat every :data:`HEARTBEAT_S` (the supervisor's liveness signal), and run each recovery the
   supervisor asks of this executor (``recover``: DBOS's own ``_recover_pending_workflows``, as
   Conductor has a live executor run it), answering in :data:`RECOVERY_TABLE`;
4. serve until SIGTERM; then ``DBOS.destroy(workflow_completion_timeout_sec=grace)`` — DBOS
   itself installs no signal handler; its documented shutdown waits up to the timeout for running
   workflows, and what is still running stays PENDING for the next worker with this executor id
   (or, under ``supervised``, for the live one); then the process exits 0.

Each step returns the executor id and the **epoch** of the execution that ran it: DBOS keeps no
executor per step, so the harness reads them back from the recorded output. The epoch is the
workflow row's ``recovery_attempts`` as this execution's claim set it (DBOS counts every dispatch
there), read once when the workflow body starts, by the execution's own ownership token
(DBOS 3.2.0 and later; before it, by the worker's executor id:
:data:`harness.sut.dbos._features.EPOCH_WITHOUT_TOKEN`). What the release offers is decided in
:mod:`harness.sut.dbos._features`.
"""

from __future__ import annotations

import argparse
import contextvars
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from dbos import DBOS, DBOSConfig, Queue
from dbos._serialization import DBOSPortableJSONSerializer
from psycopg.types.json import Jsonb

from harness.history import JSONValue
from harness.sut._worker_cli import exit_now, log_to_stderr, required_env, worker_parser
from harness.sut.dbos import (
    APP_NAME,
    APP_VERSION,
    ENV_POSTGRES,
    ENV_PROVIDER,
    HEARTBEAT_DDL,
    HEARTBEAT_S,
    HEARTBEAT_SQL,
    QUEUE,
    RECOVERY_ANSWER_SQL,
    RECOVERY_ASKED_SQL,
    RECOVERY_DDL,
    sqlalchemy_url,
)
from harness.sut.dbos._features import installed_features
from harness.workloads import (
    WORKLOADS,
    AgentContext,
    ChildSpec,
    LlmReply,
    LlmRequest,
    attribution,
    call_llm,
    post_effect,
    run_tool,
)


@dataclass
class _Worker:
    executor_id: str = ""
    provider_url: str = ""
    postgres_url: str = ""
    recovering: set[str] = field(default_factory=set)
    """Recovery requests taken (each run once, whatever the heartbeat sees again)."""


WORKER = _Worker()
FEATURES = installed_features()
_EPOCH: contextvars.ContextVar[int] = contextvars.ContextVar("durabench_dbos_epoch", default=0)

_EPOCH_SQL = (
    "SELECT recovery_attempts FROM dbos.workflow_status "
    "WHERE workflow_uuid = %s AND owner_xid = %s"
)
_EPOCH_BY_EXECUTOR_SQL = (
    "SELECT recovery_attempts FROM dbos.workflow_status "
    "WHERE workflow_uuid = %s AND executor_id = %s"
)


def _epoch_query(workflow_id: str) -> tuple[str, tuple[str, str]]:
    """The read of this execution's epoch: by its ownership token where the release has one,
    else by this worker's executor id (weaker: ``EPOCH_WITHOUT_TOKEN``)."""
    if FEATURES.owner_token:
        from dbos._context import current_owner_xid  # DBOS 3.2.0 and later

        return _EPOCH_SQL, (workflow_id, str(current_owner_xid(workflow_id)))
    return _EPOCH_BY_EXECUTOR_SQL, (workflow_id, WORKER.executor_id)


def _read_epoch(workflow_id: str) -> int:
    """This execution's epoch; 0 when another claim already superseded it (whatever it writes
    is stale: from DBOS 3.2.0 its checkpoints are fenced, before it nothing stops them)."""
    sql, params = _epoch_query(workflow_id)
    delay = 0.1
    while True:  # like DBOS's own system-database calls, ride out a lost connection
        try:
            with psycopg.connect(WORKER.postgres_url, connect_timeout=5) as conn:
                row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row and row[0] is not None else 0
        except psycopg.OperationalError:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _stamp() -> dict[str, Any]:
    return {"executor": WORKER.executor_id, "epoch": _EPOCH.get()}


def _headers(step: int) -> dict[str, str]:
    return attribution(str(DBOS.workflow_id), step, _EPOCH.get(), WORKER.executor_id)


@DBOS.step(name="llm", retries_allowed=True, max_attempts=5, interval_seconds=0.2,
           backoff_rate=2.0)  # fmt: skip
def llm_step(step: int, request: dict[str, Any]) -> dict[str, Any]:
    reply = call_llm(WORKER.provider_url, step, request, _headers(step))  # type: ignore[arg-type]
    return {**reply, **_stamp()}


@DBOS.step(name="tool", retries_allowed=True, max_attempts=5, interval_seconds=0.2,
           backoff_rate=2.0)  # fmt: skip
def tool_step(step: int, name: str, arguments: dict[str, Any], latency_s: float,
              result_tokens: int) -> dict[str, Any]:  # fmt: skip
    result = run_tool(name, arguments, latency_s, result_tokens,
                      provider_url=WORKER.provider_url, headers=_headers(step))
    return {"step": step, "result": result, **_stamp()}


@DBOS.step(name="effect", retries_allowed=True, max_attempts=5, interval_seconds=0.2,
           backoff_rate=2.0)  # fmt: skip
def effect_step(step: int, name: str, key: str, payload: Any) -> dict[str, Any]:
    applied = post_effect(WORKER.provider_url, name, key, payload, _headers(step))
    return {"step": step, "applied": applied, **_stamp()}


class _DbosContext:
    """AgentContext on DBOS: every call is one step; ``fan_out`` starts child workflows."""

    @property
    def workflow_id(self) -> str:
        return str(DBOS.workflow_id)

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        return llm_step(step, dict(request))  # type: ignore[return-value]

    def tool(self, step: int, name: str, arguments: Mapping[str, JSONValue], *,
             latency_s: float = 0.0, result_tokens: int = 100) -> JSONValue:  # fmt: skip
        return tool_step(step, name, dict(arguments), latency_s, result_tokens)["result"]

    def effect(self, step: int, name: str, key: str, payload: JSONValue) -> bool:
        return bool(effect_step(step, name, key, payload)["applied"])

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[JSONValue]:
        handles = [DBOS.start_workflow(_WORKFLOWS[c.workload], dict(c.params)) for c in children]
        return [h.get_result() for h in handles]

    def sleep(self, step: int, seconds: float) -> None:
        DBOS.sleep(seconds)  # durable: DBOS records the wake-up time as the workflow's step


_CONTEXT: AgentContext = _DbosContext()
_WORKFLOWS: dict[str, Any] = {}


def register_workflows(max_recovery_attempts: int) -> None:
    """One DBOS workflow per workload, under the workload's name (what the client enqueues)."""
    for name, workload in WORKLOADS.items():
        def body(params: dict[str, Any], _workload: Any = workload) -> Any:
            _EPOCH.set(_read_epoch(str(DBOS.workflow_id)))
            return _workload(_CONTEXT, params)

        body.__name__ = body.__qualname__ = f"durabench_{name}"
        _WORKFLOWS[name] = DBOS.workflow(name=name,
                                         max_recovery_attempts=max_recovery_attempts)(body)


def _beat(conn: psycopg.Connection[Any] | None) -> psycopg.Connection[Any] | None:
    """One heartbeat, then the supervisor's recovery requests to this executor; the connection
    to use next time (None: reconnect)."""
    try:
        if conn is None or conn.closed:
            conn = psycopg.connect(WORKER.postgres_url, autocommit=True, connect_timeout=2)
            conn.execute(HEARTBEAT_DDL)
            conn.execute(RECOVERY_DDL)
        conn.execute(HEARTBEAT_SQL, (WORKER.executor_id,))
        for request_id, dead_executor in conn.execute(RECOVERY_ASKED_SQL,
                                                      (WORKER.executor_id,)).fetchall():
            if request_id not in WORKER.recovering:
                WORKER.recovering.add(request_id)
                threading.Thread(target=recover, args=(request_id, dead_executor),
                                 name=f"recover-{dead_executor}", daemon=True).start()
        return conn
    except psycopg.Error:  # e.g. two workers creating the table at once, or a cut link
        return None


def recover(request_id: str, dead_executor: str) -> None:
    """What DBOS Conductor has a live executor do when another one dies: DBOS's own recovery of
    the dead executor's PENDING workflows (``DBOS._recover_pending_workflows``), run in this
    launched executor; then the answer to the supervisor: the ids it returned, or its error."""
    try:
        handles = DBOS._recover_pending_workflows([dead_executor])
        workflows, error = [h.get_workflow_id() for h in handles], None
    except Exception as exc:  # answered: the supervisor asks again, as Conductor would
        workflows, error = [], f"{type(exc).__name__}: {exc}"
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(WORKER.postgres_url, autocommit=True, connect_timeout=2) as conn:
                conn.execute(RECOVERY_ANSWER_SQL, (Jsonb(workflows), error, request_id))
            return
        except psycopg.Error:  # the link or the database is down: keep trying to answer
            time.sleep(HEARTBEAT_S)


def first_beat(timeout_s: float = 60.0) -> psycopg.Connection[Any] | None:
    """Beat once before the worker says it is ready: the supervisor ignores executors it never
    heard from, so a worker frozen right after its start must already have been heard."""
    deadline = time.monotonic() + timeout_s
    conn = _beat(None)
    while conn is None and time.monotonic() < deadline:
        time.sleep(HEARTBEAT_S)
        conn = _beat(None)
    return conn


def heartbeat(stop: threading.Event, conn: psycopg.Connection[Any] | None = None) -> None:
    """Beat every HEARTBEAT_S until ``stop``: what the supervised policy's supervisor listens to
    (the stand-in for DBOS Conductor's connection to this executor). Errors are ridden out."""
    while not stop.wait(HEARTBEAT_S):
        conn = _beat(conn)


def _parser() -> argparse.ArgumentParser:
    parser = worker_parser(
        "harness.sut.dbos.worker", __doc__, lease=False,
        default_executor_id=f"{socket.gethostname()}-{os.getpid()}",
        attempts="--max-recovery-attempts", poll_help="queue polling interval (s)",
        grace_help="on SIGTERM, DBOS.destroy waits this long for running workflows")
    parser.add_argument("--queue-concurrency", type=int, default=0, metavar="N",
                        help="the queue's concurrency limit across executors (0: none)")
    parser.add_argument("--worker-concurrency", type=int, default=0, metavar="N",
                        help="the queue's concurrency limit per executor id (0: none)")
    return parser


def config(executor_id: str, postgres_url: str) -> DBOSConfig:
    found: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": sqlalchemy_url(postgres_url),
        "executor_id": executor_id,
        "application_version": APP_VERSION,
        "serializer": DBOSPortableJSONSerializer(),
        "log_level": "INFO",
        "sys_db_pool_size": 10,
        # DBOS names its sessions "dbos_transact"; the executor id in the name tells the trial's
        # statement log which worker sent a statement (harness.env.statements.sent_by)
        "db_engine_kwargs": {"connect_args": {
            "application_name": f"dbos_transact:{executor_id}"[:63]}},
    }
    if FEATURES.admin_server:  # port 3001 by default: a second worker on this host cannot bind
        found["run_admin_server"] = False  # type: ignore[typeddict-unknown-key]
    return found


def register_queue(args: argparse.Namespace, launched: bool) -> None:
    """The queue the harness enqueues to: ``DBOS.register_queue`` after ``launch()`` where the
    release has it (2.20.0), else a ``Queue`` built before ``launch()``; with the concurrency
    limits asked for (``concurrency`` and ``worker_concurrency`` in every supported release)."""
    limits = {"concurrency": args.queue_concurrency or None,
              "worker_concurrency": args.worker_concurrency or None,
              "polling_interval_sec": args.poll}
    if FEATURES.register_queue and launched:
        DBOS.register_queue(QUEUE, **limits)
    elif not FEATURES.register_queue and not launched:
        Queue(QUEUE, **limits)


def main(argv: list[str] | None = None) -> int:  # returns only on a usage error
    parser = _parser()
    args = parser.parse_args(argv)
    postgres, provider = required_env(parser, ENV_POSTGRES, ENV_PROVIDER)
    log_to_stderr()
    WORKER.executor_id, WORKER.provider_url, WORKER.postgres_url = (
        args.executor_id, provider, postgres)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    register_workflows(args.max_recovery_attempts)
    DBOS(config=config(args.executor_id, postgres))
    register_queue(args, launched=False)
    DBOS.launch()
    register_queue(args, launched=True)
    beating = first_beat()
    threading.Thread(target=heartbeat, args=(stop, beating), name="heartbeat",
                     daemon=True).start()  # fmt: skip
    print(f"worker {args.executor_id} ready", flush=True)
    stop.wait()
    DBOS.destroy(workflow_completion_timeout_sec=math.ceil(args.grace))
    # destroy() leaves a workflow still running in its thread pool (it stays PENDING for the
    # next worker with this executor id); interpreter exit would join that thread, so leave now.
    exit_now()


if __name__ == "__main__":
    sys.exit(main())
