"""``WorkflowHandle``: the status and result of one workflow execution, by id.

``result()`` polls the status row (backing off from 10 ms to ``poll_s``). Inside a workflow it
is a durable step named ``result:<id>``: the awaited workflow's terminal state is recorded, so a
replay returns the same outcome without waiting. While it waits inside a workflow it gives up its
worker's concurrency slot (children can then run on the same worker) and still notices that its
own execution was fenced, cancelled, or that the worker drains.
"""

from __future__ import annotations

import time
from typing import Any

from reference_runtime._context import EvictedError, Execution, current_execution
from reference_runtime._errors import (
    DeadLetterError,
    FencedError,
    ReferenceRuntimeError,
    WorkflowCancelledError,
    WorkflowFailedError,
)
from reference_runtime._steps import durable
from reference_runtime._store import Store
from reference_runtime._types import JSON, TERMINAL_STATUSES


class WorkflowHandle:
    """A reference to the workflow ``workflow_id``; cheap to create, safe to share."""

    def __init__(self, store: Store, workflow_id: str, *, poll_s: float = 0.5) -> None:
        self._store = store
        self.workflow_id = workflow_id
        self._poll_s = poll_s

    def __repr__(self) -> str:
        return f"WorkflowHandle({self.workflow_id!r})"

    def status(self) -> str:
        """The current status ("PENDING", "SUCCESS", "ERROR", "CANCELLED", "DEAD_LETTER")."""
        info = self._store.get_workflow(self.workflow_id)
        if info is None:
            raise ReferenceRuntimeError(f"no workflow with id {self.workflow_id!r}")
        return info.status

    def result(self, timeout: float | None = None) -> JSON:
        """Wait for the outcome: its output, or WorkflowFailedError / WorkflowCancelledError /
        DeadLetterError; TimeoutError when ``timeout`` seconds pass first."""
        execution = current_execution()
        if execution is None:
            outcome = self._await(timeout, None)
        else:
            outcome = durable(
                f"result:{self.workflow_id}", lambda _seq: self._await(timeout, execution)
            )
        return _unwrap(self.workflow_id, outcome)

    def _await(self, timeout: float | None, execution: Execution | None) -> dict[str, Any]:
        if execution is None:
            return self._poll(timeout, None)
        with execution.host.waiting():
            return self._poll(timeout, execution)

    def _poll(self, timeout: float | None, execution: Execution | None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        ids = [self.workflow_id]
        if execution is not None:
            ids.append(execution.context.workflow_id)
        delay = 0.01
        while True:
            rows = self._store.statuses(ids)
            if execution is not None:
                _check_own(execution, rows.get(execution.context.workflow_id))
            row = rows.get(self.workflow_id)
            if row is None:
                raise ReferenceRuntimeError(f"no workflow with id {self.workflow_id!r}")
            status, _epoch, output, error = row
            if status in TERMINAL_STATUSES:
                return {"status": status, "output": output, "error": error}
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {self.workflow_id!r} still {status} after {timeout}s")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(self._poll_s, delay * 2)


def _check_own(execution: Execution, row: tuple[str, int, Any, Any] | None) -> None:
    ctx = execution.context
    if row is not None and row[0] == "CANCELLED":
        raise WorkflowCancelledError(ctx.workflow_id)
    if row is None or row[0] != "PENDING" or row[1] != ctx.epoch:
        raise FencedError(f"workflow {ctx.workflow_id!r} moved past epoch {ctx.epoch}")
    if execution.host.draining:
        raise EvictedError(f"worker is shutting down; {ctx.workflow_id} released")


def _unwrap(workflow_id: str, outcome: dict[str, Any]) -> JSON:
    status = outcome["status"]
    if status == "SUCCESS":
        return outcome["output"]
    if status == "CANCELLED":
        raise WorkflowCancelledError(workflow_id)
    if status == "DEAD_LETTER":
        raise DeadLetterError(workflow_id, outcome["error"])
    raise WorkflowFailedError(workflow_id, outcome["error"])
