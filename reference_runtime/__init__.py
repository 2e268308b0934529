"""reference_runtime: a small durable execution runtime with checkpoints in Postgres.

Decorate workflows and steps on an :class:`App`; a :class:`Runtime` enqueues workflows, runs
them on worker threads (``run_worker``) and records each step's JSON output in Postgres, so a
workflow resumed after a crash replays its completed steps instead of running them again.
Workers hold leases renewed by heartbeat; an epoch (fencing token) rejects a zombie's writes.
A step declared ``resumable=True`` may record the reference of external work before it waits on
it (``record_pending_ref``), and a replay resumes that work (``pending_ref``; ``_pending``).
Each worker also holds a per-executor lock for its session's life, so a worker that dies is taken
over at once rather than when its lease expires (``_liveness``; docs/reference_runtime.md).
See docs/architecture.md, "The reference runtime". This package never imports ``harness``.
"""

from __future__ import annotations

from reference_runtime._app import App
from reference_runtime._context import WorkflowContext, current_context
from reference_runtime._errors import (
    DeadLetterError,
    FenceAnnouncementError,
    FencedError,
    InvalidWorkflowError,
    NonDeterminismError,
    ReferenceRuntimeError,
    RuntimeClosedError,
    SchemaVersionError,
    SerializationError,
    StepFailedError,
    UnreachableDatabaseError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowFailedError,
)
from reference_runtime._handle import WorkflowHandle
from reference_runtime._pending import pending_ref, record_pending_ref
from reference_runtime._runtime import Runtime
from reference_runtime._schema import DEFAULT_SCHEMA, SCHEMA_VERSION
from reference_runtime._types import (
    ClaimInfo,
    ClaimReason,
    PendingStep,
    StepInfo,
    WorkflowInfo,
    WorkflowStatus,
)

__all__ = [
    "DEFAULT_SCHEMA",
    "SCHEMA_VERSION",
    "App",
    "ClaimInfo",
    "ClaimReason",
    "DeadLetterError",
    "FenceAnnouncementError",
    "FencedError",
    "InvalidWorkflowError",
    "NonDeterminismError",
    "PendingStep",
    "ReferenceRuntimeError",
    "Runtime",
    "RuntimeClosedError",
    "SchemaVersionError",
    "SerializationError",
    "StepFailedError",
    "StepInfo",
    "UnreachableDatabaseError",
    "WorkflowCancelledError",
    "WorkflowConflictError",
    "WorkflowContext",
    "WorkflowFailedError",
    "WorkflowHandle",
    "WorkflowInfo",
    "WorkflowStatus",
    "current_context",
    "pending_ref",
    "record_pending_ref",
]
