"""Values the runtime hands out: what is stored about workflows and steps, and claims."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

JSON: TypeAlias = Any
"""Anything ``json.dumps`` accepts."""

WorkflowStatus = Literal["PENDING", "SUCCESS", "ERROR", "CANCELLED", "DEAD_LETTER"]
ClaimReason = Literal["unowned", "own", "lease_expired", "session_ended"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"SUCCESS", "ERROR", "CANCELLED", "DEAD_LETTER"})


@dataclass(frozen=True)
class StepInfo:
    """A recorded step. ``error`` is ``{"type", "message"}`` when the step failed, else None.

    ``recorded_ns`` is the database's wall clock (ns, microsecond precision) when the record was
    written, inside its committing statement.
    """

    workflow_id: str
    seq: int
    name: str
    output: JSON
    error: JSON | None
    executor_id: str
    epoch: int
    recorded_ns: int


@dataclass(frozen=True)
class PendingStep:
    """The write-ahead record of a resumable step (``_pending``): the external reference ``ref``
    it recorded before waiting, by ``executor_id`` at fencing token ``epoch``. ``recorded_ns``
    is the database's wall clock inside the writing statement."""

    workflow_id: str
    seq: int
    name: str
    ref: JSON
    executor_id: str
    epoch: int
    recorded_ns: int


@dataclass(frozen=True)
class WorkflowInfo:
    """A workflow's status row.

    ``outcome_epoch`` / ``outcome_executor``: the execution whose terminal write (SUCCESS, ERROR,
    or the claim that dead-lettered it) was accepted; None while PENDING and for CANCELLED. With
    fencing intact ``outcome_epoch == epoch``: an outcome from an older epoch was written by a
    superseded execution.
    """

    workflow_id: str
    name: str
    parent_id: str | None
    status: WorkflowStatus
    inputs: JSON
    output: JSON
    error: JSON | None
    executor_id: str | None
    epoch: int
    recovery_attempts: int
    created_ns: int
    updated_ns: int
    outcome_epoch: int | None = None
    outcome_executor: str | None = None


@dataclass(frozen=True)
class Claim:
    """A workflow this executor just claimed, at fencing token ``epoch``."""

    workflow_id: str
    name: str
    inputs: list[JSON]
    epoch: int
    status: WorkflowStatus
    previous_owner: str | None = None
    reason: ClaimReason = "unowned"
    """Why it was claimable: no owner, this executor's own (a restart), the owner's lease
    expired, or the owner's session ended before its lease did (see ``_liveness``)."""


@dataclass(frozen=True)
class ClaimInfo:
    """A recorded claim (``Runtime.list_claims``): ``executor_id`` took ``workflow_id`` at
    fencing token ``epoch`` from ``previous_owner`` (None when unowned), for ``reason``.

    ``claimed_ns`` is the database's wall clock (ns, microsecond precision) inside the claiming
    statement, after it locked the workflow row: every step record of an older epoch that was
    accepted has a smaller ``recorded_ns``.
    """

    workflow_id: str
    epoch: int
    executor_id: str
    previous_owner: str | None
    reason: ClaimReason
    claimed_ns: int
