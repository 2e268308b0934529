"""The durable step path, split into its three parts: replay, run (with retries), record.

For a step called inside a workflow execution:
1. stop here if the worker drains (a step boundary);
2. take the next sequence number;
3. replay: if a record exists at that position, check its name (else NonDeterminismError) and
   return its output or raise its error, without running the step;
4. run: call the function (a resumable step with its pending slot bound, ``_pending``),
   retrying an ``Exception`` ``retries`` times with exponential backoff;
5. record: encode the output as JSON (else SerializationError, unrecorded) and write the record
   in one fenced round trip (checkpointing on only); then return the JSON round-tripped value,
   so that the first run and every replay see the same value.

A step's error, after its last attempt, is recorded as ``{"type", "message"}`` and raised as
:class:`StepFailedError` (chained to the original on the first run), on replay too.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference_runtime._context import Execution, current_execution, inside_step
from reference_runtime._errors import (
    NonDeterminismError,
    SerializationError,
    StepFailedError,
)
from reference_runtime._pending import PendingSlot, running_resumable
from reference_runtime._store import StepRecordRequest
from reference_runtime._types import JSON, StepInfo

log = logging.getLogger("reference_runtime")


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` further attempts after the first; delays ``backoff_s * 2**n`` capped."""

    retries: int = 0
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff_max_s, self.backoff_s * 2**attempt)


@dataclass(frozen=True)
class StepDef:
    name: str
    fn: Callable[..., Any]
    policy: RetryPolicy
    resumable: bool = False
    """Runs with a pending slot (``_pending``): it may record an external reference before it
    waits, and a replay without a final record hands that reference back to it."""


# -- JSON ------------------------------------------------------------------------------------------
def encode(value: Any, what: str) -> str:
    """JSON text of ``value``; SerializationError naming ``what`` and the offending type."""

    def refuse(obj: Any) -> Any:
        raise SerializationError(
            f"{what} is not JSON-serialisable: it contains a {type(obj).__module__}."
            f"{type(obj).__qualname__}. Return only dicts, lists, str, int, float, bool, None."
        )

    try:
        return json.dumps(value, default=refuse, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:
        raise SerializationError(f"{what} is not JSON-serialisable: {exc}") from exc


def error_record(exc: BaseException) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": str(exc)}


# -- the three parts -------------------------------------------------------------------------------
def replay(execution: Execution, seq: int, name: str) -> StepInfo | None:
    """The record at ``seq`` if there is one (name checked), else None."""
    info = execution.recorded.get(seq)
    if info is None:
        return None
    if info.name != name:
        raise NonDeterminismError(execution.context.workflow_id, seq, info.name, name)
    return info


def result_of(info: StepInfo) -> JSON:
    """A recorded step's output, or its recorded error raised."""
    if info.error is not None:
        raise StepFailedError(
            info.name, str(info.error.get("type")), str(info.error.get("message"))
        )
    return info.output


def run_with_retries(step: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call the step; an ``Exception`` is retried; the last one propagates."""
    attempt = 0
    while True:
        try:
            with inside_step():
                return step.fn(*args, **kwargs)
        except Exception as exc:
            if attempt >= step.policy.retries:
                raise
            delay = step.policy.delay(attempt) * random.uniform(0.9, 1.1)
            log.info(
                "step %s attempt %d failed (%s); retrying in %.2fs",
                step.name,
                attempt + 1,
                exc,
                delay,
            )
            time.sleep(delay)
            attempt += 1


def pending_slot(execution: Execution, seq: int, name: str) -> PendingSlot:
    """The slot of a resumable step at ``seq``, holding the reference an earlier execution
    recorded there (its name checked like a replayed step's)."""
    pending = execution.pending_at(seq)
    if pending is not None and pending.name != name:
        raise NonDeterminismError(execution.context.workflow_id, seq, pending.name, name)
    return PendingSlot(execution, seq, name, None if pending is None else pending.ref)


def record(
    execution: Execution, seq: int, name: str, output: str, error: dict[str, str] | None
) -> None:
    """Write one step record (checkpointing on only)."""
    if not execution.context.checkpointing:
        return
    ctx = execution.context
    execution.host.store.record_step(
        StepRecordRequest(
            workflow_id=ctx.workflow_id,
            seq=seq,
            name=name,
            output=output,
            error=None if error is None else json.dumps(error),
            executor_id=ctx.executor_id,
            epoch=ctx.epoch,
        )
    )


# -- entry points ----------------------------------------------------------------------------------
def call_step(step: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A decorated step's call: durable inside a workflow, a plain call elsewhere."""
    execution = current_execution()
    if execution is None:
        return step.fn(*args, **kwargs)
    execution.check_boundary()
    seq = execution.next_seq()
    recorded = replay(execution, seq, step.name)
    if recorded is not None:
        return result_of(recorded)
    try:
        if step.resumable:
            with running_resumable(pending_slot(execution, seq, step.name)):
                value = run_with_retries(step, args, kwargs)
        else:
            value = run_with_retries(step, args, kwargs)
    except Exception as exc:
        error = error_record(exc)
        record(execution, seq, step.name, "null", error)
        raise StepFailedError(step.name, error["type"], error["message"]) from exc
    text = encode(value, f"the output of step {step.name!r}")
    record(execution, seq, step.name, text, None)
    return json.loads(text)


def durable(name: str, compute: Callable[[int | None], JSON]) -> JSON:
    """Run ``compute(seq)`` once per workflow position and record its JSON value like a step.

    Used for the runtime's own steps (starting a child, awaiting a result). Outside a workflow
    it computes with ``seq=None``. An exception from ``compute`` propagates unrecorded.
    """
    execution = current_execution()
    if execution is None:
        return compute(None)
    execution.check_boundary()
    seq = execution.next_seq()
    recorded = replay(execution, seq, name)
    if recorded is not None:
        return result_of(recorded)
    text = encode(compute(seq), f"the value of {name!r}")
    record(execution, seq, name, text, None)
    return json.loads(text)
