"""Worker of the ``langgraph`` SUTs: ``python -m harness.sut.langgraph.worker --workload
research_agent --durability sync`` with the DSN and provider URL in
``DURABENCH_WORKER_POSTGRES_URL`` / ``DURABENCH_WORKER_PROVIDER_URL`` (never in argv), and
optionally ``DURABENCH_DB_TIMEOUT_S`` (the per-query timeout, default 30 s).

The workload runs as a LangGraph functional-API ``@entrypoint`` with ``PostgresSaver`` (a
``psycopg_pool`` pool); each context call is one ``@task``. Everything else here is **the
adapter's resume loop, not LangGraph's** (LangGraph resumes nothing by itself), the lease loop of
:mod:`harness.sut._lease_loop` (shared with ``plain``) around :meth:`Loop.run_claim`:

1. create LangGraph's tables and the adapter's, print ``worker <executor-id> ready``;
2. every ``--poll`` seconds claim one root thread from :data:`THREADS_TABLE` (``FOR UPDATE SKIP
   LOCKED``: a thread nobody holds, one held by this executor id that it is not running — a
   restarted worker —, or one whose lease expired) and run it in a thread: ``invoke(params)``
   when LangGraph has no checkpoint of it, ``invoke(None)`` (resume) when it has an unfinished
   one; a heartbeat renews the leases of running threads;
3. record the loop's decision (SUCCESS / ERROR; DEAD_LETTER past the claim limit) in the
   adapter's table; a lost database connection is retried by resuming again, and the saver's
   writes are retried in place (:class:`WatchedSaver`: LangGraph does not stop a run whose
   background write failed, so a resume would come too late for it);
4. SIGTERM: stop claiming; a running thread finishes the task it is in but starts no other
   (:class:`Drained` ends the run, its finished tasks saved by LangGraph) and its lease is
   expired so that another worker resumes it at once; after half of ``--grace`` the leases of
   threads still running are expired too; exit 0.

Nothing fences a superseded execution: the lease decides only who invokes next (LangGraph has
no such notion), so a paused worker that wakes up runs on.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, TypeVar

import httpx
import openai
import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.config import get_config
from langgraph.func import entrypoint, task
from langgraph.types import RetryPolicy
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from harness.history import JSONValue
from harness.sut._lease_loop import Claim, LeaseLoop, LeaseTable
from harness.sut._worker_cli import (
    db_timeout_s,
    exit_now,
    log_to_stderr,
    required_env,
    worker_parser,
)
from harness.sut.langgraph import (
    ENV_POSTGRES,
    ENV_PROVIDER,
    META_ATTEMPT,
    META_EXECUTOR,
    THREADS_TABLE,
    Store,
    cut,
    ensure_schema,
    final_output,
    watchdog,
)
from harness.workloads import (
    WORKLOADS,
    ChildSpec,
    GarbageResponseError,
    LlmReply,
    LlmRequest,
    attribution,
    call_llm,
    post_effect,
    run_tool,
)

log = logging.getLogger("langgraph_worker")
T = TypeVar("T")

"""Optional per-query timeout (default 30 s), as for the reference runtime's workers: faults
that hang a query set it so that a trial does not wait half a minute."""

THREADS = LeaseTable(THREADS_TABLE, key="thread_id", outcome="error")
"""The threads table as the lease loop sees it: an outcome is an error (LangGraph keeps the
result)."""
SERVER_NOW_NS = "(extract(epoch FROM clock_timestamp()) * 1e9)::bigint"
REGISTER_CHILD = f"""
INSERT INTO {THREADS_TABLE} (thread_id, parent_id, workload, params, executor, attempt,
                             created_ns, updated_ns)
VALUES (%s, %s, %s, %s, %s, %s, {SERVER_NOW_NS}, {SERVER_NOW_NS})
ON CONFLICT (thread_id) DO UPDATE SET executor = EXCLUDED.executor, attempt = EXCLUDED.attempt
"""
"""Stamped by the server's clock: when the row was written, not when the worker sent it."""
RETRYABLE = (openai.APIError, httpx.HTTPError, GarbageResponseError)
CALL_RETRY = RetryPolicy(max_attempts=5, initial_interval=0.2, backoff_factor=2.0,
                         jitter=False, retry_on=RETRYABLE)  # fmt: skip
TOOL_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2, backoff_factor=2.0,
                         jitter=False, retry_on=RETRYABLE)  # fmt: skip


@dataclass
class _Worker:
    executor_id: str = ""
    provider_url: str = ""
    durability: str = "sync"
    saver: PostgresSaver | None = None
    store: Store | None = None
    draining: threading.Event = field(default_factory=threading.Event)
    """Set on SIGTERM: the task running finishes, no further task starts."""


class Drained(Exception):
    """Raised instead of starting a task once the worker drains: LangGraph ends the run as
    failed (its finished tasks saved), and the loop hands the thread over instead of recording
    an error. An ``Exception`` so that LangGraph saves the run's writes on the way out."""


WORKER = _Worker()
_ATTEMPTS: dict[str, int] = {}
"""Thread id -> the attempt (claim) this process runs it under; children inherit the root's."""


def _stamp(workflow_id: str, kind: str, step: int | None) -> dict[str, Any]:
    return {"durabench_kind": kind, "step": step, "executor": WORKER.executor_id,
            "epoch": _ATTEMPTS.get(workflow_id, 0)}  # fmt: skip


def _headers(workflow_id: str, step: int) -> dict[str, str]:
    return attribution(workflow_id, step, _ATTEMPTS.get(workflow_id, 0), WORKER.executor_id)


def _llm(workflow_id: str, step: int, request: dict[str, Any]) -> dict[str, Any]:
    reply = call_llm(WORKER.provider_url, step, request,  # type: ignore[arg-type]
                     _headers(workflow_id, step))  # fmt: skip
    return {**reply, **_stamp(workflow_id, "llm", step)}


def _tool(workflow_id: str, step: int, name: str, arguments: dict[str, Any],
          latency_s: float, result_tokens: int) -> dict[str, Any]:  # fmt: skip
    result = run_tool(name, arguments, latency_s, result_tokens,
                      provider_url=WORKER.provider_url, headers=_headers(workflow_id, step))
    return {"result": result, **_stamp(workflow_id, "tool", step)}


def _effect(workflow_id: str, step: int, name: str, key: str, payload: Any) -> dict[str, Any]:
    applied = post_effect(WORKER.provider_url, name, key, payload, _headers(workflow_id, step))
    return {"applied": applied, **_stamp(workflow_id, "effect", step)}


def _child(parent_id: str, child_id: str, workload: str,
           params: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """A sub-agent as its own thread. Invoked from a fresh OS thread so that LangGraph does not
    take it for a subgraph of the parent's run (its config travels in context variables)."""
    attempt = _ATTEMPTS.get(parent_id, 0)
    _register_child(child_id, parent_id, workload, params, attempt)
    box: list[Any] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            box.append(run_thread(child_id, workload, params, attempt))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=body, name=f"child-{child_id}", daemon=True)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return {"result": box[0], **_stamp(parent_id, "child", None)}


def _sleep_deadline(workflow_id: str, step: int, seconds: float) -> dict[str, Any]:
    """The wake-up time of a sleep, as a task: its checkpointed result makes the sleep durable
    (a resumed run waits out what is left of it); without a checkpointer it is not."""
    return {"wake_at": time.time() + seconds, **_stamp(workflow_id, "sleep", step)}


# Typed Any: LangGraph's task typing does not survive mypy's inference of the wrapped signature.
_task: Any = task
llm_task: Any = _task(name="llm", retry_policy=CALL_RETRY)(_llm)
tool_task: Any = _task(name="tool", retry_policy=TOOL_RETRY)(_tool)
effect_task: Any = _task(name="effect", retry_policy=CALL_RETRY)(_effect)
child_task: Any = _task(name="child")(_child)
sleep_task: Any = _task(name="sleep_until")(_sleep_deadline)


def _unless_draining() -> None:
    if WORKER.draining.is_set():
        raise Drained("the worker is shutting down (SIGTERM): no new task starts")


class LangGraphContext:
    """AgentContext on LangGraph: every call is one task of the running entrypoint."""

    def __init__(self, workflow_id: str) -> None:
        self._workflow_id = workflow_id

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        _unless_draining()
        reply: LlmReply = llm_task(self._workflow_id, step, dict(request)).result()
        return reply

    def tool(self, step: int, name: str, arguments: Mapping[str, JSONValue], *,
             latency_s: float = 0.0, result_tokens: int = 100) -> JSONValue:  # fmt: skip
        _unless_draining()
        return tool_task(self._workflow_id, step, name, dict(arguments), latency_s,
                         result_tokens).result()["result"]  # fmt: skip

    def effect(self, step: int, name: str, key: str, payload: JSONValue) -> bool:
        _unless_draining()
        return bool(effect_task(self._workflow_id, step, name, key, payload).result()["applied"])

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[JSONValue]:
        _unless_draining()
        futures = [child_task(self._workflow_id, f"{self._workflow_id}-c{step}.{i}", c.workload,
                              dict(c.params)) for i, c in enumerate(children)]  # fmt: skip
        return [f.result()["result"] for f in futures]

    def sleep(self, step: int, seconds: float) -> None:
        _unless_draining()
        wake_at = float(sleep_task(self._workflow_id, step, seconds).result()["wake_at"])
        time.sleep(max(0.0, wake_at - time.time()))


def _entrypoint(name: str) -> Any:
    workload = WORKLOADS[name]

    def body(params: dict[str, Any]) -> Any:
        thread_id = str(get_config()["configurable"]["thread_id"])
        return workload(LangGraphContext(thread_id), params)

    body.__name__ = f"durabench_{name}"
    return entrypoint(checkpointer=WORKER.saver)(body)


_GRAPHS: dict[str, Any] = {}


def run_thread(thread_id: str, workload: str, params: Mapping[str, Any], attempt: int) -> Any:
    """Run a thread to its end under ``attempt``: from its input when LangGraph has no
    checkpoint of it, resumed from its latest checkpoint when it has one, or the saved result."""
    assert WORKER.saver is not None
    _ATTEMPTS[thread_id] = attempt
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id},
                              "metadata": {META_EXECUTOR: WORKER.executor_id,
                                           META_ATTEMPT: attempt}}  # fmt: skip
    graph = _GRAPHS[workload]
    latest = WORKER.saver.get_tuple(config)  # type: ignore[arg-type]
    if latest is None:
        return graph.invoke(dict(params), config, durability=WORKER.durability)
    done, output = final_output(latest.checkpoint)
    if done:
        return output
    return graph.invoke(None, config, durability=WORKER.durability)


def _register_child(child_id: str, parent_id: str, workload: str, params: dict[str, Any],
                    attempt: int) -> None:  # fmt: skip
    assert WORKER.store is not None
    WORKER.store.run(lambda c: c.execute(REGISTER_CHILD, (
        child_id, parent_id, workload, Jsonb(params), WORKER.executor_id, attempt)),
        retry_s=3600.0)  # fmt: skip


class Loop(LeaseLoop):
    """The adapter's resume loop (see the module docstring and :mod:`harness.sut._lease_loop`):
    each claim invokes the thread, resuming it from its latest checkpoint."""

    thread_prefix = "thread"
    end_superseded_sessions = True  # its checkpointer writes in pipelines (see LeaseLoop)

    def __init__(self, args: argparse.Namespace, store: Store) -> None:
        super().__init__(THREADS, store, WORKER.executor_id, args, log)

    def run_claim(self, claim: Claim) -> None:
        """Invoke until LangGraph returns or raises; a lost database connection is ridden out
        by resuming again from the latest checkpoint."""
        delay = 0.2
        while True:
            try:
                run_thread(claim.workflow_id, claim.workload, claim.params, claim.attempt)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("thread %s: database unreachable (%s); resuming", claim.workflow_id,
                            exc)  # fmt: skip
                time.sleep(delay)
                delay = min(2.0, delay * 2)
                if not self.still_held(claim):
                    log.warning("thread %s: claimed by another worker meanwhile; leaving it",
                                claim.workflow_id)  # fmt: skip
                    return
                continue
            except Drained:
                log.info("thread %s: drained; handing it over", claim.workflow_id)
                self.set_lease(claim.workflow_id, claim.attempt, -1.0, retry_s=2.0)
                return
            except Exception as exc:
                log.exception("thread %s failed", claim.workflow_id)
                self.finish(claim.workflow_id, "ERROR",
                            {"error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
                return
            self.finish(claim.workflow_id, "SUCCESS", None)
            return

    def still_held(self, claim: Claim) -> bool:
        """Whether this claim is still the thread's latest and the thread unfinished: checked by
        the loop before it resumes after a database error (not a fence: LangGraph has none)."""
        row = self.latest(claim.workflow_id, retry_s=3600.0)
        return row is not None and int(row[0]) == claim.attempt and row[1] == "PENDING"


class WatchedSaver(PostgresSaver):
    """``PostgresSaver`` whose every database operation is cut after ``op_timeout_s`` (the
    deployer's per-query timeout: LangGraph sets none, and its saver serializes all operations
    under one lock, so one hung query would stop the worker for good). Overrides the saver's
    private ``_cursor``, the one place its operations go through; the watch starts once the pool
    handed the connection out, so the pool's own query before that, its check of the connection,
    is watched by :class:`WatchedCheck`. The watch ends after the saver's exit: its pipeline sync
    waits for the commit's answer, and a cut sync fails (the connection is discarded)."""

    op_timeout_s: float = 30.0
    write_retry_s: float = 120.0
    """How long a failed checkpoint or task write is retried (see :meth:`put_writes`)."""

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self._retried("checkpoint", lambda: PostgresSaver.put(
            self, config, checkpoint, metadata, new_versions))  # fmt: skip

    def put_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:  # fmt: skip
        """LangGraph's write of a task's result, retried on a lost connection until the database
        answers (within ``write_retry_s``). LangGraph submits it in the background and does not
        stop the run when it fails: the run goes on and finishes, its final checkpoint saved,
        and the error surfaces only when ``invoke`` returns -- the task's result is lost for
        good (a resumed run finds the final checkpoint), so the loop's resume cannot recover it.
        Both writes are idempotent (``ON CONFLICT``): retrying a write whose commit's answer was
        lost finds it done."""
        self._retried("task write", lambda: PostgresSaver.put_writes(
            self, config, writes, task_id, task_path))  # fmt: skip

    def _retried(self, what: str, op: Callable[[], T]) -> T:
        deadline, delay = time.monotonic() + self.write_retry_s, 0.2
        while True:
            try:
                return op()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    @contextlib.contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
        timer: threading.Timer | None = None
        try:
            with super()._cursor(pipeline=pipeline) as cur:
                timer = threading.Timer(self.op_timeout_s, cut, (cur.connection,))
                timer.daemon = True
                timer.start()
                yield cur
        finally:
            if timer is not None:
                timer.cancel()


def idle_in_transaction_timeout_ms(lease_s: float) -> int:
    """How long the server lets a session of this worker sit idle inside a transaction. A worker
    frozen in the middle of a checkpoint write holds its row locks until then, and the write
    that took its thread over waits on them (LangGraph has no fencing to refuse either); the
    server's timeout ends the frozen session and frees them (a deployer's setting)."""
    return int(max(5.0, 4 * lease_s) * 1000)


class WatchedCheck:
    """The pool's check of a connection it hands out (``SELECT ''`` on it, psycopg_pool's
    ``check_connection``), cut after ``op_timeout_s`` like every other query of the worker. The
    check runs inside ``getconn``, under the saver's lock and before :meth:`WatchedSaver._cursor`
    has a connection to watch: unwatched, a check whose answer was black-holed hung every
    operation of the saver until the link was closed. A cut check fails, and the pool discards
    the connection and hands out another one."""

    def __init__(self, op_timeout_s: float) -> None:
        self.op_timeout_s = op_timeout_s

    def __call__(self, conn: psycopg.Connection[Any]) -> None:
        with watchdog(conn, self.op_timeout_s):
            ConnectionPool.check_connection(conn)


def _pool(dsn: str, lease_s: float, op_timeout_s: float, executor_id: str = "",
          checkout_s: float = 10.0) -> ConnectionPool[Any]:  # fmt: skip
    """The checkpointer's connections, named after the executor (``application_name``) so that
    the worker that takes one of its threads over can end them (see
    ``Loop.end_superseded_sessions``). A checkout waits ``checkout_s`` at most for a connection
    (never longer than the saver's ``write_retry_s``: one write's wait must not outlast it)."""
    timeout_ms = idle_in_transaction_timeout_ms(lease_s)
    kwargs = {"application_name": executor_id[:63], "autocommit": True, "prepare_threshold": 0,
              "row_factory": dict_row,
              "connect_timeout": 3, "keepalives": 1, "keepalives_idle": 2,
              "keepalives_interval": 1, "keepalives_count": 3, "tcp_user_timeout": 5000,
              "options": f"-c idle_in_transaction_session_timeout={timeout_ms}"}
    return ConnectionPool(dsn, min_size=1, max_size=8, kwargs=kwargs, open=True,
                          check=WatchedCheck(op_timeout_s), timeout=checkout_s)  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    p = worker_parser("harness.sut.langgraph.worker", __doc__,
                      default_executor_id=f"langgraph-{os.getpid()}", attempts="--max-attempts")
    p.add_argument("--durability", choices=("sync", "exit"), default="sync")
    p.add_argument("--write-retry", type=float, default=WatchedSaver.write_retry_s,
                   help="seconds a failed checkpoint or task write is retried before the run "
                        "fails (the loop then resumes the thread from its latest checkpoint); "
                        "a pool checkout waits no longer than that either (at most 10 s)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    dsn, provider = required_env(parser, ENV_POSTGRES, ENV_PROVIDER)
    log_to_stderr()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ensure_schema(dsn)
    WORKER.executor_id, WORKER.provider_url, WORKER.durability = (
        args.executor_id, provider, args.durability)
    op_timeout_s = db_timeout_s()
    saver = WatchedSaver(_pool(dsn, args.lease, op_timeout_s, args.executor_id,
                               checkout_s=min(10.0, args.write_retry)))
    saver.op_timeout_s = op_timeout_s
    saver.write_retry_s = args.write_retry
    WORKER.saver = saver
    WORKER.store = Store(dsn, op_timeout_s)
    _GRAPHS.update((name, _entrypoint(name)) for name in WORKLOADS)
    loop = Loop(args, WORKER.store)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        WORKER.draining.set()
        loop.stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        loop.serve()
    finally:
        loop.shutdown()
    exit_now()  # threads left running hold nothing: their leases are expired


if __name__ == "__main__":
    sys.exit(main())
