"""Worker entry point of the ``temporal`` SUT: ``python -m harness.sut.temporal.worker --workload
research_agent --task-queue Q`` with the server's address and the provider URL in
``DURABENCH_WORKER_TEMPORAL_ADDRESS`` and ``DURABENCH_WORKER_PROVIDER_URL`` (never in argv).

The workload runs as one Temporal workflow (type :data:`WORKFLOW_TYPE`); each context call is one
activity (``llm``, ``tool``, ``effect``) and ``fan_out`` starts child workflows. Workloads are
plain synchronous functions, while Temporal's Python workflows are coroutines: the workload runs
in a greenlet and each context call hands its awaitable (the activity) to the workflow coroutine
and is resumed with the result (:func:`run_sync`, :func:`await_`). All workflow activations of a
worker run on one thread (a greenlet cannot switch threads). The workload code is deterministic:
it only computes between context calls, so replaying the history drives it along the same path.

Deployed as Temporal's docs describe: worker ``identity`` = the executor id, one task queue per
trial (shared by its workers: any worker may run any activity), the timeouts that decide
recovery derived from the trial's lease (:class:`harness.sut.temporal.TemporalTimeouts`):
activities heartbeat every ``heartbeat_s`` and time out after ``lease_s`` without one; the
server then schedules the next attempt on any polling worker.

Each activity returns the executor id and the **epoch** of its attempt: the workflow's epoch
(the highest epoch a completed activity recorded, taken from recorded results, hence
deterministic) plus ``attempt - 1`` -- or plus 1 when this executor restarted (a new process
with the same executor id) since it ran the workflow's previous activity. A new attempt, or a
restarted executor, therefore carries a higher epoch than what it replaced, and the workflow
goes on with it.

SIGTERM: the worker stops polling and shuts down, waiting ``--grace`` seconds for running
activities (Temporal's graceful shutdown timeout); what is still running is cancelled and the
server schedules its next attempt once its heartbeat timeout passes. Exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import greenlet
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from harness.history import JSONValue
from harness.sut._worker_cli import exit_now, log_to_stderr, required_env
from harness.sut.temporal import (
    ENV_ADDRESS,
    ENV_PROVIDER,
    NAMESPACE,
    WORKFLOW_TYPE,
    TemporalTimeouts,
)
from harness.sut.temporal._serving import (
    activity_options,
    heartbeating,
    run_until_sigterm,
    temporal_worker_parser,
    worker_options,
)
from harness.workloads import (
    WORKLOADS,
    ChildSpec,
    LlmReply,
    LlmRequest,
    attribution,
    call_llm,
    post_effect,
    run_tool,
)

T = TypeVar("T")


class _Settings:
    """This worker's executor id, provider and timeouts (set once in :func:`main`; activities
    read them, workflow code never does: its options come from the workflow's input)."""

    executor_id = ""
    incarnation = uuid.uuid4().hex
    """This worker process: a restarted worker keeps its executor id but not this."""
    provider_url = ""
    timeouts = TemporalTimeouts()


SETTINGS = _Settings()


# --- the greenlet bridge: synchronous workload code inside an async workflow -----------------


def await_(awaitable: Awaitable[T]) -> T:
    """From workload code running under :func:`run_sync`: await ``awaitable`` in the workflow
    coroutine and return its result (or raise its exception)."""
    current = greenlet.getcurrent()
    if current.parent is None:
        raise RuntimeError("await_ called outside run_sync")
    return current.parent.switch(awaitable)


async def run_sync(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in a greenlet; every :func:`await_` inside it is awaited here."""
    child = greenlet.greenlet(fn)
    result = child.switch(*args)
    while not child.dead:
        try:
            value = await result
        except BaseException as exc:
            result = child.throw(exc)
        else:
            result = child.switch(value)
    return result


# --- activities ------------------------------------------------------------------------------


def _epoch(args: Mapping[str, Any]) -> int:
    """This attempt's epoch: above the workflow's when it replaces an earlier attempt, or when
    this executor restarted since it ran the workflow's previous activity (a new incarnation
    with the same executor id, as after a pod restart, is a new execution)."""
    restarted = (args.get("prev_executor") == SETTINGS.executor_id
                 and args.get("prev_incarnation") not in (None, SETTINGS.incarnation))
    return int(args["epoch"]) + max(activity.info().attempt - 1, int(restarted))


def _stamp(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"executor": SETTINGS.executor_id, "incarnation": SETTINGS.incarnation,
            "epoch": _epoch(args)}


def _headers(args: Mapping[str, Any]) -> dict[str, str]:
    return attribution(args["workflow_id"], int(args["step"]), _epoch(args),
                       SETTINGS.executor_id)  # fmt: skip


async def _heartbeating(fn: Callable[[], T]) -> T:
    return await heartbeating(fn, SETTINGS.timeouts.heartbeat_s)


@activity.defn(name="llm")
async def llm_activity(args: dict[str, Any]) -> dict[str, Any]:
    headers = _headers(args)
    reply = await _heartbeating(lambda: call_llm(SETTINGS.provider_url, int(args["step"]),
                                                 args["request"], headers))  # fmt: skip
    return {**reply, **_stamp(args)}


@activity.defn(name="tool")
async def tool_activity(args: dict[str, Any]) -> dict[str, Any]:
    headers = _headers(args)
    result = await _heartbeating(lambda: run_tool(
        args["name"], args["arguments"], float(args["latency_s"]), int(args["result_tokens"]),
        provider_url=SETTINGS.provider_url, headers=headers))  # fmt: skip
    return {"step": args["step"], "result": result, **_stamp(args)}


@activity.defn(name="effect")
async def effect_activity(args: dict[str, Any]) -> dict[str, Any]:
    headers = _headers(args)
    applied = await _heartbeating(lambda: post_effect(
        SETTINGS.provider_url, args["name"], args["key"], args["payload"], headers))
    return {"step": args["step"], "applied": applied, **_stamp(args)}


ACTIVITIES = [llm_activity, tool_activity, effect_activity]


# --- the workflow ----------------------------------------------------------------------------


class _TemporalContext:
    """AgentContext in a Temporal workflow: every call one activity, ``fan_out`` child
    workflows. Must only be used from workload code under :func:`run_sync`."""

    def __init__(self, timeouts: TemporalTimeouts) -> None:
        self.timeouts = timeouts
        self.epoch = 1
        self.previous: dict[str, Any] = {}
        """Executor and incarnation of the workflow's last completed activity (from its result,
        so replays see the same)."""

    @property
    def workflow_id(self) -> str:
        return workflow.info().workflow_id

    def _activity(self, name: str, step: int, args: Mapping[str, Any]) -> dict[str, Any]:
        t = self.timeouts
        result: dict[str, Any] = await_(workflow.execute_activity(
            name, {**args, "step": step, "workflow_id": self.workflow_id, "epoch": self.epoch,
                   "prev_executor": self.previous.get("executor"),
                   "prev_incarnation": self.previous.get("incarnation")},
            **activity_options(t),
        ))  # fmt: skip
        self.epoch = max(self.epoch, int(result.get("epoch", self.epoch)))
        self.previous = {k: result.get(k) for k in ("executor", "incarnation")}
        return result

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        return self._activity("llm", step, {"request": dict(request)})  # type: ignore[return-value]

    def tool(self, step: int, name: str, arguments: Mapping[str, JSONValue], *,
             latency_s: float = 0.0, result_tokens: int = 100) -> JSONValue:  # fmt: skip
        return self._activity("tool", step, {"name": name, "arguments": dict(arguments),
                                             "latency_s": latency_s,
                                             "result_tokens": result_tokens})["result"]

    def effect(self, step: int, name: str, key: str, payload: JSONValue) -> bool:
        return bool(self._activity("effect", step, {"name": name, "key": key,
                                                    "payload": payload})["applied"])

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[JSONValue]:
        t = self.timeouts
        parent = self.workflow_id
        runs = [workflow.execute_child_workflow(
            WORKFLOW_TYPE, {"workload": c.workload, "params": dict(c.params),
                            "timeouts": t.to_json()},
            id=f"{parent}-s{step}-c{i}", task_timeout=timedelta(seconds=t.workflow_task_s))
            for i, c in enumerate(children)]  # fmt: skip
        return list(await_(asyncio.gather(*runs)))

    def sleep(self, step: int, seconds: float) -> None:
        await_(workflow.sleep(seconds))  # a durable timer on the server (TimerStarted)


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=True)
class AgentWorkflow:
    """One workload run: ``{"workload": name, "params": {...}, "timeouts": {...}}`` -> the
    workload's output. The timeouts travel in the input (recorded in the history), so every
    worker and every replay schedules activities with the same options."""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> Any:
        workload = WORKLOADS[request["workload"]]
        timeouts = TemporalTimeouts.from_json(request["timeouts"])
        return await run_sync(workload, _TemporalContext(timeouts), request["params"])


# --- the process -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    return temporal_worker_parser("harness.sut.temporal.worker", __doc__)


async def serve(address: str, task_queue: str, grace_s: float) -> None:
    """Poll ``task_queue`` until SIGTERM, then shut down gracefully within ``grace_s``."""
    client = await Client.connect(address, namespace=NAMESPACE, identity=SETTINGS.executor_id)
    restrictions = SandboxRestrictions.default.with_passthrough_all_modules()
    worker = Worker(
        client, task_queue=task_queue, workflows=[AgentWorkflow], activities=ACTIVITIES,
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        **worker_options(SETTINGS.timeouts, SETTINGS.executor_id, grace_s),
    )  # fmt: skip
    await run_until_sigterm(worker, SETTINGS.executor_id)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    address, provider = required_env(parser, ENV_ADDRESS, ENV_PROVIDER,
                                     "the trial's Temporal server and provider")
    log_to_stderr(logging.WARNING)
    SETTINGS.executor_id, SETTINGS.provider_url = args.executor_id, provider
    SETTINGS.timeouts = TemporalTimeouts.derive(args.lease, args.heartbeat,
                                                args.max_recovery_attempts)
    asyncio.run(serve(address, args.task_queue, args.grace))
    exit_now()  # threads of abandoned calls (a cancelled attempt) must not hold the exit


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: the workflow sandbox re-imports the
    # workflow's module by name, and activities read that module's SETTINGS.
    from harness.sut.temporal.worker import main as _main

    sys.exit(_main())
