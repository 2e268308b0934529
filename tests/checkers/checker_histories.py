"""Small constructors of hand-written histories for the checker and figure tests.

Times are given in seconds from an arbitrary origin ``T0`` and turned into nanoseconds by
:func:`at`. The canonical trial is a research-agent run of ``N`` logical LLM steps (one per
second: request at +0.0, response delivered at +0.5, step record at +0.6) followed by a publish
effect; :func:`crash_run` adds a kill of the first worker while step 2 is in flight and a second
execution (attempt 2, worker w2) that finishes the job, with or without checkpoints.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.history import (
    EffectRecord,
    EventKind,
    GoldenBaseline,
    HarnessEvent,
    History,
    LedgerEntry,
    Outcome,
    StepRecord,
    ToolExecution,
    WorkflowRecord,
    WorkflowStatus,
)

T0 = 1_700_000_000_000_000_000
N = 4
TOKENS = 150  # 100 prompt + 50 completion per call
COST = 0.001
WF = "wf-1"


def at(seconds: float) -> int:
    return T0 + round(seconds * 1e9)


def led(step: int | None, t: float, *, wf: str | None = WF, attempt: int | None = 1,
        executor: str | None = "w1", delivered: bool = True, responded: float | None = None,
        nonce: str | None = None, prompt: int = 100, completion: int = 50,
        status: int = 200, cost: float = COST) -> LedgerEntry:
    """One ledger entry; by default answered and delivered 0.5 s after it was received."""
    answered = t + 0.5 if responded is None else responded
    return LedgerEntry(
        request_id=f"req-{wf}-{step}-{attempt}-{t}", workflow_id=wf, step=step, attempt=attempt,
        executor=executor, model="mock-gpt-4o", received_ns=at(t), responded_ns=at(answered),
        status=status, prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
        delivered=delivered, nonce=nonce if nonce is not None else f"n{step}a{attempt}",
    )


def rec(step: int | None, t: float, *, wf: str = WF, seq: int | None = None,
        kind: Any = "llm", epoch: int = 1, executor: str = "w1",
        nonce: str | None = None) -> StepRecord:
    """One step record; an llm record's nonce defaults to the one :func:`led` gives its call."""
    return StepRecord(
        workflow_id=wf, seq=seq if seq is not None else (step or 0), name=f"llm-{step}",
        kind=kind, step=step, executor=executor, epoch=epoch, recorded_ns=at(t),
        nonce=nonce if nonce is not None or kind != "llm" else f"n{step}a{epoch}",
    )


def wfrec(*, wf: str = WF, status: WorkflowStatus = "SUCCESS", epoch: int = 1,
          output: Any = None, updated: float = 5.0, parent: str | None = None,
          executor: str = "w1") -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=wf, parent_id=parent, status=status, executor=executor, epoch=epoch,
        output=output, recovery_attempts=epoch - 1, created_ns=at(0), updated_ns=at(updated),
    )


def outcome(*, wf: str = WF, observer: str = "handle-1", status: WorkflowStatus = "SUCCESS",
            output: Any = None, t: float = 5.1) -> Outcome:
    return Outcome(workflow_id=wf, observer=observer, status=status, output=output,
                   observed_ns=at(t))


def effect(t: float, *, key: str = f"{WF}:publish", applied: bool = True, wf: str | None = WF,
           name: str = "publish", attempt: int | None = 1,
           executor: str | None = "w1") -> EffectRecord:
    return EffectRecord(key=key, name=name, workflow_id=wf, executor=executor, attempt=attempt,
                        received_ns=at(t), applied=applied)


def tool(step: int, t: float, *, wf: str = WF, attempt: int = 1, executor: str = "w1",
         finished: float | None = -1.0, ok: bool | None = True) -> ToolExecution:
    """One tool execution; by default it finished 0.2 s after it started."""
    end = t + 0.2 if finished == -1.0 else finished
    return ToolExecution(execution_id=f"tool-{wf}-{step}-{attempt}-{t}", workflow_id=wf,
                         step=step, attempt=attempt, executor=executor, name="search",
                         started_ns=at(t), finished_ns=None if end is None else at(end),
                         ok=ok if end is not None else None)


def event(kind: EventKind, t: float, **fields: Any) -> HarnessEvent:
    return HarnessEvent(at_ns=at(t), kind=kind, **fields)


def golden(n: int = N, duration: float = 5.0) -> GoldenBaseline:
    return GoldenBaseline(tokens_billed=TOKENS * n, calls=n, cost_usd=COST * n,
                          duration_s=duration, step_tokens={k: TOKENS for k in range(n)})


def output(nonces: dict[int, str]) -> dict[str, Any]:
    return {"report": "r", "llm_nonces": {str(k): v for k, v in nonces.items()},
            "published": True}


def history(**fields: Any) -> History:
    base: dict[str, Any] = {
        "trial_id": "trial-1", "workflow_ids": (WF,), "checkpointing": True,
        "started_ns": at(0), "ended_ns": at(20),
    }
    base.update(fields)
    return History(**base)


def clean_run(*, checkpointing: bool = True, n: int = N) -> History:
    """A golden-like trial: steps 0..n-1 by attempt 1 on w1, publish, SUCCESS at n+1 s."""
    ledger = tuple(led(k, float(k)) for k in range(n))
    steps = tuple(rec(k, k + 0.6) for k in range(n)) if checkpointing else ()
    out = output({k: f"n{k}a1" for k in range(n)})
    return history(
        checkpointing=checkpointing, ledger=ledger, steps=steps,
        workflows=(wfrec(output=out, updated=n + 1.0),),
        outcomes=(outcome(output=out, t=n + 1.1),),
        effects=(effect(n + 0.8),),
        events=(event("workflow_started", 0.0), event("worker_started", 0.0, worker="w1",
                                                      executor="w1")),
        golden=golden(n, duration=n + 1.0),
    )


def crash_run(*, checkpointing: bool = True, n: int = N) -> History:
    """Kill w1 at 2.2 s while step 2 is in flight; heal (w2 started) at 2.5; attempt 2 from 3.0.

    With checkpointing attempt 2 resumes at step 2; without, it redoes steps 0..n-1.
    """
    first = [led(0, 0.0), led(1, 1.0), led(2, 2.0, delivered=False, responded=2.5)]
    first_steps = [rec(0, 0.6), rec(1, 1.6)] if checkpointing else []
    redo = range(2, n) if checkpointing else range(n)
    second = [led(k, 3.0 + i, attempt=2, executor="w2") for i, k in enumerate(redo)]
    second_steps = ([rec(k, 3.6 + i, epoch=2, executor="w2") for i, k in enumerate(redo)]
                    if checkpointing else [])
    end = 3.0 + len(redo)
    nonces = {k: (f"n{k}a1" if checkpointing and k < 2 else f"n{k}a2") for k in range(n)}
    out = output(nonces)
    return history(
        checkpointing=checkpointing, ledger=(*first, *second),
        steps=(*first_steps, *second_steps),
        workflows=(wfrec(output=out, epoch=2, updated=end + 0.5, executor="w2"),),
        outcomes=(outcome(output=out, t=end + 0.6),),
        effects=(effect(end + 0.2, attempt=2, executor="w2"),),
        events=(
            event("workflow_started", 0.0),
            event("worker_started", 0.0, worker="w1", executor="w1"),
            event("fault_fired", 2.2, worker="w1", detail={"fault": "kill"}),
            event("worker_exited", 2.2, worker="w1", executor="w1", exit_code=-9),
            event("worker_started", 2.5, worker="w2", executor="w2"),
            event("fault_healed", 2.5),
        ),
        golden=golden(n, duration=n + 1.0),
    )


def with_(h: History, **fields: Any) -> History:
    """``h`` with some fields replaced (tuples are replaced whole)."""
    return replace(h, **fields)
