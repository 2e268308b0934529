"""The runtime's exceptions. Every one says when it is raised and what to do next.

Tree::

    BaseException
     ├── FencedError              a newer execution (higher epoch) owns the workflow; abandon
     ├── WorkflowCancelledError   the workflow was cancelled; abandon (or: a handle saw CANCELLED)
     └── Exception
          └── ReferenceRuntimeError
               ├── NonDeterminismError      replay met a different step than the one recorded
               ├── WorkflowConflictError    an id already names a workflow of another name
               ├── InvalidWorkflowError     start_workflow got an unknown name, or an id or
               │                            argument Postgres cannot store (a NUL character)
               ├── SchemaVersionError       the database was migrated by a newer runtime
               ├── FenceAnnouncementError   a claim's epoch announcement failed; claim undone
               ├── UnreachableDatabaseError Postgres could not be reached within the retry bound
               │    └── RuntimeClosedError  the Runtime was shut down
               ├── WorkflowFailedError      a handle's workflow ended in ERROR
               ├── DeadLetterError          a handle's workflow was dead-lettered
               ├── SerializationError       a value that must be stored is not JSON
               └── StepFailedError          a step's recorded error (first run and replay)

``FencedError`` and ``WorkflowCancelledError`` derive from ``BaseException`` on purpose: they are
control flow that user code inside a workflow must not swallow with ``except Exception``.
"""

from __future__ import annotations

from typing import Any


class ReferenceRuntimeError(Exception):
    """Base of the runtime's ordinary errors."""


class NonDeterminismError(ReferenceRuntimeError):
    """Raised on replay when the step at a position has another name than the recorded one."""

    def __init__(self, workflow_id: str, seq: int, recorded: str, called: str) -> None:
        super().__init__(
            f"non-determinism in workflow {workflow_id!r} at step position {seq}: "
            f"the recorded step is {recorded!r} but the workflow now calls {called!r}. "
            "A workflow must call the same steps in the same order on every execution; "
            "do not change a workflow's code while executions of it are pending."
        )
        self.workflow_id = workflow_id
        self.seq = seq
        self.recorded = recorded
        self.called = called


class WorkflowConflictError(ReferenceRuntimeError):
    """Raised when a workflow id is reused for a workflow of another name."""


class InvalidWorkflowError(ReferenceRuntimeError, ValueError):
    """Raised by ``start_workflow`` before anything is stored: the name is not a workflow of the
    app, or the id or an argument holds a NUL character (Postgres text cannot store one)."""


class SchemaVersionError(ReferenceRuntimeError):
    """Raised when the store's schema version is newer than this runtime understands."""


class UnreachableDatabaseError(ReferenceRuntimeError):
    """Raised when Postgres cannot be reached (or keeps dropping us) within the retry bound."""

    def __init__(self, host: str, port: str, reason: str, waited_s: float) -> None:
        super().__init__(
            f"cannot reach Postgres at {host}:{port} (gave up after {waited_s:.1f}s: {reason}). "
            "Is it running and listening there? Check DURABENCH_POSTGRES_URL / the DSN."
        )
        self.host = host
        self.port = port


class RuntimeClosedError(UnreachableDatabaseError):
    """Raised when a Runtime that was shut down is used (its connections are closed)."""

    def __init__(self, host: str, port: str) -> None:
        ReferenceRuntimeError.__init__(
            self,
            f"this Runtime (Postgres at {host}:{port}) was shut down and its connections "
            "closed; create a new Runtime",
        )
        self.host = host
        self.port = port


class WorkflowFailedError(ReferenceRuntimeError):
    """Raised by ``WorkflowHandle.result()`` when the workflow ended in ERROR."""

    def __init__(self, workflow_id: str, error: Any) -> None:
        kind, message = _type_and_message(error)
        super().__init__(f"workflow {workflow_id!r} failed: {kind}: {message}")
        self.workflow_id = workflow_id
        self.error = error


class DeadLetterError(ReferenceRuntimeError):
    """Raised by ``WorkflowHandle.result()`` when the workflow was dead-lettered."""

    def __init__(self, workflow_id: str, error: Any) -> None:
        _, message = _type_and_message(error)
        super().__init__(
            f"workflow {workflow_id!r} was dead-lettered: {message}. Inspect why its executions "
            "keep dying (worker logs) before restarting it under a new id."
        )
        self.workflow_id = workflow_id
        self.error = error


class SerializationError(ReferenceRuntimeError):
    """Raised when a step output, workflow input or output is not JSON-serialisable."""


class StepFailedError(ReferenceRuntimeError):
    """A step's recorded error: raised after its last retry and again on every replay.

    The original exception type is not reconstructed (values are JSON, never pickle); its name
    and message are in ``error_type`` / ``error_message``. The first run chains the original.
    """

    def __init__(self, step_name: str, error_type: str, error_message: str) -> None:
        super().__init__(f"step {step_name!r} failed: {error_type}: {error_message}")
        self.step_name = step_name
        self.error_type = error_type
        self.error_message = error_message


class FenceAnnouncementError(ReferenceRuntimeError):
    """A claim's fence announcement (``Runtime(announce_epochs=...)``) failed; the claim was rolled
    back and nothing was taken: the worker tries again at its next poll."""


class FencedError(BaseException):
    """Raised when a write finds a newer epoch: another execution owns the workflow now.

    The runner abandons the execution silently (one log line). Do not catch it.
    """


class WorkflowCancelledError(BaseException):
    """Raised when the workflow ``workflow_id`` was cancelled.

    Inside the cancelled workflow it stops the execution (do not catch it); from a handle it
    reports that the awaited workflow was cancelled.
    """

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} was cancelled")
        self.workflow_id = workflow_id


def _type_and_message(error: Any) -> tuple[str, str]:
    if isinstance(error, dict):
        return str(error.get("type", "Error")), str(error.get("message", ""))
    return "Error", str(error)
