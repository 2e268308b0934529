"""``Runtime``: the client API (start, retrieve, cancel, inspect) and the worker over one store.

Lifecycle:
1. ``Runtime(app, dsn, executor_id, ...)`` connects (retrying for up to ``connect_timeout_s``,
   then UnreachableDatabaseError) and migrates the schema;
2. use it as a client, and/or call ``run_worker()`` (blocking) to execute workflows;
3. ``shutdown(grace_s)`` / ``close()`` / leaving ``with``: drain the worker, release leases,
   close connections. Idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from reference_runtime._app import App
from reference_runtime._context import WorkflowContext, current_execution
from reference_runtime._db import Database
from reference_runtime._errors import (
    InvalidWorkflowError,
    ReferenceRuntimeError,
    WorkflowConflictError,
)
from reference_runtime._handle import WorkflowHandle
from reference_runtime._liveness import SessionLock
from reference_runtime._runner import execute
from reference_runtime._schema import DEFAULT_SCHEMA, check_schema_name, migrate
from reference_runtime._steps import durable, encode
from reference_runtime._store import Announce, Store
from reference_runtime._types import Claim, ClaimInfo, PendingStep, StepInfo, WorkflowInfo
from reference_runtime._worker import Worker, WorkerOptions

log = logging.getLogger("reference_runtime")

WorkflowRef = Callable[..., Any] | str


class Runtime:
    """A durable runtime over the Postgres at ``dsn``, executing as ``executor_id``."""

    def __init__(
        self,
        app: App,
        dsn: str,
        executor_id: str,
        *,
        checkpointing: bool = True,
        lease_s: float = 30.0,
        heartbeat_s: float = 5.0,
        poll_s: float = 0.5,
        max_recovery_attempts: int = 10,
        max_concurrency: int = 16,
        connect_timeout_s: float = 5.0,
        schema: str = DEFAULT_SCHEMA,
        db_retry_s: float = 60.0,
        op_timeout_s: float = 30.0,
        announce_epochs: Announce | None = None,
        idle_in_transaction_s: float | None = None,
    ) -> None:
        """``idle_in_transaction_s``: how long Postgres lets one of this runtime's sessions sit
        idle inside a transaction before it ends the session (default ``max(5, 4 * lease_s)``).
        A worker frozen inside its claim transaction (a stopped process, a hung host) holds the
        claimed rows' locks; the other workers' claims skip locked rows, so without this bound
        the workflow waits for as long as the freeze lasts.

        ``announce_epochs``, when given, is called inside each claim's transaction with the
        claimed ``(workflow_id, epoch)`` pairs before the claim commits; an exception rolls the
        claim back. Use it to hand the new fencing token to resources that check it (an effect
        sink that refuses lower epochs), so a superseded execution is refused there from the
        moment its successor's claim takes effect (``_store``, "Announcing epochs")."""
        if not 0 < heartbeat_s < lease_s:
            raise ValueError(f"heartbeat_s ({heartbeat_s}) must be > 0 and < lease_s ({lease_s})")
        if max_concurrency < 1 or poll_s <= 0 or max_recovery_attempts < 0:
            raise ValueError("max_concurrency >= 1, poll_s > 0, max_recovery_attempts >= 0")
        self.app = app
        self.executor_id = executor_id
        self.checkpointing = checkpointing
        self.poll_s = poll_s
        idle_s = max(5.0, 4 * lease_s) if idle_in_transaction_s is None else idle_in_transaction_s
        if idle_s <= 0:
            raise ValueError(f"idle_in_transaction_s must be > 0, got {idle_s}")
        # Three pools (``_db``): executions and the client API on one, the worker's own traffic
        # (claims, lease releases, the executor lock) on the second, heartbeats on the third.
        self._db, self._control_db, self._lease_db = (
            Database(dsn, connect_timeout_s=connect_timeout_s, retry_s=db_retry_s,
                     op_timeout_s=op_timeout_s, application_name=f"{app_name}:{executor_id}"[:63],
                     idle_in_transaction_s=idle_s)
            for app_name in ("reference_runtime", "reference_runtime:worker",
                             "reference_runtime:heartbeat")
        )  # fmt: skip
        self.store = Store(self._db, check_schema_name(schema))
        try:
            self._db.run(lambda conn: migrate(conn, schema), retry_s=connect_timeout_s)
        except BaseException:
            for db in (self._db, self._control_db, self._lease_db):
                db.close()
            raise
        self._worker = Worker(
            Store(self._control_db, schema),
            WorkerOptions(
                executor_id, lease_s, heartbeat_s, poll_s, max_recovery_attempts, max_concurrency
            ),
            names=lambda: app.workflow_names,
            launch=self._execute,
            liveness=SessionLock(
                self._control_db, schema, executor_id, probe_s=min(heartbeat_s, poll_s * 4),
                on_change=lambda _state: self._worker.wake(),
            ),
            lease_store=Store(self._lease_db, schema),
            announce=announce_epochs,
        )
        self._closed = False
        self._close_lock = threading.Lock()

    # -- client API ------------------------------------------------------------------------------
    def start_workflow(
        self, fn_or_name: WorkflowRef, *args: Any, workflow_id: str | None = None
    ) -> WorkflowHandle:
        """Enqueue a workflow; an id that exists returns that execution's handle. An unknown name,
        or a NUL character in the id or the arguments, raises :class:`InvalidWorkflowError` at
        once (nothing is stored)."""
        if workflow_id is not None and not isinstance(workflow_id, str):
            raise TypeError(
                f"workflow_id must be a str, got {type(workflow_id).__name__} {workflow_id!r}"
            )
        name = self.app.workflow_name(fn_or_name)
        if name not in self.app.workflow_names:
            raise InvalidWorkflowError(
                f"app {self.app.name!r} has no workflow named {name!r} (known: "
                f"{', '.join(self.app.workflow_names) or 'none'}); no worker could ever run it"
            )
        wid = workflow_id if workflow_id is not None else str(uuid.uuid4())
        if "\x00" in wid or _holds_nul(args):
            where = "workflow_id" if "\x00" in wid else f"an argument of workflow {name!r}"
            raise InvalidWorkflowError(
                f"{where} contains a NUL character (\\x00), which Postgres cannot store; "
                "remove it"
            )
        self._enqueue(wid, name, args, parent_id=None)
        return self.retrieve(wid)

    def start_child(self, fn_or_name: WorkflowRef, *args: Any) -> WorkflowHandle:
        """Inside a workflow: start a child with id ``<parent>:child:<seq>``, recorded as a step."""
        execution = current_execution()
        if execution is None:
            raise ReferenceRuntimeError(
                "start_child() must be called inside a workflow; use start_workflow() elsewhere"
            )
        name = self.app.workflow_name(fn_or_name)
        parent = execution.context.workflow_id

        def enqueue(seq: int | None) -> str:
            child_id = f"{parent}:child:{seq}"
            self._enqueue(child_id, name, args, parent_id=parent)
            return child_id

        child_id = durable(f"start_child:{name}", enqueue)
        return self.retrieve(str(child_id))

    def _enqueue(self, wid: str, name: str, args: tuple[Any, ...], parent_id: str | None) -> None:
        inputs = encode(list(args), f"the inputs of workflow {name!r}")
        existing = self.store.enqueue(wid, name, inputs, parent_id)
        if existing is not None and existing != name:
            raise WorkflowConflictError(
                f"workflow id {wid!r} already names a {existing!r} workflow, not {name!r}; "
                "use another id"
            )
        self._worker.wake()

    def retrieve(self, workflow_id: str) -> WorkflowHandle:
        return WorkflowHandle(self.store, workflow_id, poll_s=self.poll_s)

    def cancel(self, workflow_id: str) -> None:
        """Mark a PENDING workflow CANCELLED; its execution stops at its next write."""
        if not self.store.cancel(workflow_id) and self.store.get_workflow(workflow_id) is None:
            raise ReferenceRuntimeError(f"cannot cancel {workflow_id!r}: no such workflow")

    def get_workflow(self, workflow_id: str) -> WorkflowInfo | None:
        return self.store.get_workflow(workflow_id)

    def list_workflows(self, *, parent_id: str | None = None) -> list[WorkflowInfo]:
        return self.store.list_workflows(parent_id)

    def list_steps(self, workflow_id: str) -> list[StepInfo]:
        return self.store.list_steps(workflow_id)

    def list_pending(self, workflow_id: str) -> list[PendingStep]:
        """The write-ahead records of ``workflow_id``'s resumable steps, by position."""
        return list(self.store.pending.load(workflow_id).values())

    def list_claims(self, workflow_id: str) -> list[ClaimInfo]:
        """Every claim of ``workflow_id`` (who took which epoch, from whom, why), by epoch."""
        return self.store.list_claims(workflow_id)

    # -- worker ----------------------------------------------------------------------------------
    def run_worker(self, stop: threading.Event | None = None) -> None:
        """Block, recovering this executor's PENDING workflows and then claiming others."""
        if self._closed:
            raise ReferenceRuntimeError("this Runtime is shut down; create a new one")
        log.info("worker %s polling (checkpointing=%s)", self.executor_id, self.checkpointing)
        self._worker.run(stop)

    def _execute(self, claim: Claim) -> None:
        context = WorkflowContext(
            claim.workflow_id, self.executor_id, claim.epoch, self.checkpointing, self
        )
        execute(self, context, claim, self.app.workflow_def(claim.name))

    # ExecutionHost
    @property
    def draining(self) -> bool:
        return self._worker.draining

    def waiting(self) -> contextlib.AbstractContextManager[None]:
        return self._worker.waiting()

    # -- lifecycle -------------------------------------------------------------------------------
    def shutdown(self, grace_s: float = 0.0) -> None:
        """Stop claiming, drain within ``grace_s``, release leases, close connections."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._worker.drain(grace_s)
        finally:
            self._db.close()
            self._control_db.close()
            self._lease_db.close()

    def close(self) -> None:
        self.shutdown(0.0)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _holds_nul(value: Any) -> bool:
    """Whether a JSON-able value holds a NUL character in any string (keys included)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False
