"""Who is executing: the workflow context user code sees and the runner's per-execution state.

A workflow execution runs on its own thread; :data:`_current` (a context variable) holds its
:class:`Execution` there, and nowhere else. Outside any workflow :func:`current_context` is None.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from reference_runtime._types import PendingStep, StepInfo

if TYPE_CHECKING:
    from reference_runtime._handle import WorkflowHandle
    from reference_runtime._store import Store


class ExecutionHost(Protocol):
    """What an execution needs from the worker running it."""

    store: Store

    @property
    def draining(self) -> bool:
        """True once the worker is shutting down: executions stop at their next step boundary."""
        ...

    def waiting(self) -> AbstractContextManager[None]:
        """Marks the calling execution as blocked (on a child), freeing its concurrency slot."""
        ...

    def start_child(self, fn_or_name: Any, *args: Any) -> WorkflowHandle: ...

    def retrieve(self, workflow_id: str) -> WorkflowHandle: ...


class EvictedError(BaseException):
    """Raised at a step boundary while the worker drains; the runner abandons the execution."""


@dataclass(frozen=True)
class WorkflowContext:
    """What a workflow (or a step inside it) knows about its execution.

    ``epoch`` is this execution's fencing token: it grows by one on every claim.
    """

    workflow_id: str
    executor_id: str
    epoch: int
    checkpointing: bool
    runtime: ExecutionHost

    def start_child(self, fn_or_name: Any, *args: Any) -> WorkflowHandle:
        """Same as ``Runtime.start_child`` on the runtime executing this workflow."""
        return self.runtime.start_child(fn_or_name, *args)


class Execution:
    """Mutable state of one execution: the next step position, the steps recorded before and
    (read lazily) the pending records of its resumable steps."""

    def __init__(
        self, context: WorkflowContext, recorded: dict[int, StepInfo], host: ExecutionHost
    ) -> None:
        self.context = context
        self.recorded = recorded
        self.host = host
        self._next_seq = 0
        self._lock = threading.Lock()
        self._pending: dict[int, PendingStep] | None = None

    def pending_at(self, seq: int) -> PendingStep | None:
        """The pending record of a resumable step at ``seq``, read once per execution, when a
        resumable step first replays without a final record (checkpointing on only)."""
        if not self.context.checkpointing:
            return None
        with self._lock:
            if self._pending is None:
                self._pending = self.host.store.pending.load(self.context.workflow_id)
            return self._pending.get(seq)

    def next_seq(self) -> int:
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def check_boundary(self) -> None:
        """Called before each step: a draining worker stops the execution here."""
        if self.host.draining:
            raise EvictedError(f"worker is shutting down; {self.context.workflow_id} released")


_current: ContextVar[Execution | None] = ContextVar("reference_runtime_execution", default=None)
_in_step: ContextVar[bool] = ContextVar("reference_runtime_in_step", default=False)


def current_execution() -> Execution | None:
    """The execution running on this thread, unless we are inside one of its steps."""
    if _in_step.get():
        return None
    return _current.get()


def current_context() -> WorkflowContext | None:
    """The running workflow's context, inside a workflow or its steps; None elsewhere."""
    execution = _current.get()
    return None if execution is None else execution.context


class _Binding:
    """Sets and resets a context variable around a block."""

    def __init__(self, var: ContextVar[Any], value: Any) -> None:
        self._var = var
        self._value = value

    def __enter__(self) -> None:
        self._token = self._var.set(self._value)

    def __exit__(self, *exc: object) -> None:
        self._var.reset(self._token)


def executing(execution: Execution) -> AbstractContextManager[None]:
    return _Binding(_current, execution)


def inside_step() -> AbstractContextManager[None]:
    return _Binding(_in_step, True)
