"""What every Temporal worker of durabench shares (the hand-written adapter's and the framework
SUTs'): the worker options and activity options the trial's timeouts give, and the loop that
polls until SIGTERM. Imports ``temporalio``: workers only."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from harness.sut._worker_cli import log_to_stderr, required_env, worker_parser
from harness.sut.temporal import ENV_ADDRESS, ENV_PROVIDER, TemporalTimeouts
from harness.workloads import attribution, post_effect

T = TypeVar("T")


def retry_policy(t: TemporalTimeouts) -> RetryPolicy:
    return RetryPolicy(initial_interval=timedelta(seconds=t.retry_initial_s),
                       backoff_coefficient=2.0, maximum_interval=timedelta(seconds=t.retry_max_s),
                       maximum_attempts=t.maximum_attempts)  # fmt: skip


def activity_options(t: TemporalTimeouts) -> dict[str, Any]:
    """``start_to_close_timeout``, ``heartbeat_timeout`` (the lease, or two) and
    ``retry_policy``: the keyword arguments of ``workflow.execute_activity`` (and the keys of an
    ``ActivityConfig``)."""
    return {"start_to_close_timeout": timedelta(seconds=t.start_to_close_s),
            "heartbeat_timeout": timedelta(seconds=t.heartbeat_timeout_s),
            "retry_policy": retry_policy(t)}  # fmt: skip


def worker_options(t: TemporalTimeouts, executor_id: str, grace_s: float) -> dict[str, Any]:
    """The ``Worker`` keyword arguments the trial's timeouts decide: identity = the executor id,
    workflow activations on one thread, the sticky queue timeout, heartbeats throttled to
    ``heartbeat_s``, a graceful shutdown of ``grace_s``."""
    return dict(
        identity=executor_id,
        workflow_task_executor=concurrent.futures.ThreadPoolExecutor(max_workers=1),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=t.sticky_queue_s),
        max_heartbeat_throttle_interval=timedelta(seconds=t.heartbeat_s),
        default_heartbeat_throttle_interval=timedelta(seconds=t.heartbeat_s),
        graceful_shutdown_timeout=timedelta(seconds=grace_s),
    )


def temporal_worker_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The command line of every Temporal worker (``harness.sut._worker_cli``'s, plus
    ``--task-queue``)."""
    p = worker_parser(module, doc, poll=False,
                      default_executor_id=f"{socket.gethostname()}-{os.getpid()}",
                      attempts="--max-recovery-attempts")  # fmt: skip
    p.add_argument("--task-queue", required=True)
    return p


def framework_worker_args(module: str, doc: str | None, workload: str, framework: str,
                          argv: list[str] | None) -> tuple[argparse.Namespace, str, str,
                                                           TemporalTimeouts]:  # fmt: skip
    """A framework SUT's worker command line: (args, server address, provider URL, timeouts).
    Usage errors for another workload than ``workload`` and for a missing environment; the
    timeouts are the lease's, for an integration that beats at half the heartbeat timeout."""
    parser = temporal_worker_parser(module, doc)
    args = parser.parse_args(argv)
    if args.workload != workload:
        parser.error(f"--workload {args.workload}: this SUT runs {workload} only (the agent is "
                     f"written with {framework}); use the temporal SUT for the others")
    address, provider = required_env(parser, ENV_ADDRESS, ENV_PROVIDER,
                                     "the trial's Temporal server and provider")
    log_to_stderr(logging.WARNING)
    timeouts = TemporalTimeouts.derive(args.lease, args.heartbeat, args.max_recovery_attempts)
    return args, address, provider, timeouts.for_half_timeout_beats()


async def heartbeating(fn: Callable[[], T], every_s: float) -> T:
    """From an activity: run blocking ``fn`` in a thread, heartbeating every ``every_s``
    meanwhile (the lease this attempt holds). Cancelled (its attempt timed out or the worker
    shuts down), the call's thread still finishes in the background, but its result is never
    reported."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    while True:  # the first beat after every_s: a short call costs the server no write
        done, _ = await asyncio.wait({task}, timeout=every_s)
        if done:
            return task.result()
        activity.heartbeat()


async def activity_epoch() -> int:
    """From an activity whose workflow does not stamp epochs (a framework's): this attempt's
    epoch by the rule the history reader applies (:class:`harness.sut.temporal._Reader`) -- the
    highest epoch of the activities completed so far + this attempt - 1 --, read from the
    workflow's history at the server, so the provider's ledger, tool log and effect sink name
    the same epoch the step records will."""
    from harness.sut.temporal import _Reader, durabench_step

    info = activity.info()
    client = activity.client()
    decode = client.data_converter.payload_converter.from_payloads
    reader = _Reader(info.workflow_id or "",
                     lambda p: decode(list(p.payloads)) if p.payloads else [], durabench_step)
    async for event in client.get_workflow_handle(info.workflow_id or "").fetch_history_events():
        reader.add(event)
    return reader.epoch + info.attempt - 1


class WorkerSettings(Protocol):
    """Where a framework SUT's worker keeps its executor id and provider (set in ``main``)."""

    @property
    def executor_id(self) -> str: ...

    @property
    def provider_url(self) -> str: ...


def publish_activity(settings: WorkerSettings) -> Callable[[dict[str, Any]], Awaitable[bool]]:
    """The ``publish`` activity of a framework SUT's workflow (``{"step", "key", "report"}``):
    the research agent's effect, posted with this attempt's epoch (:func:`activity_epoch`)."""

    @activity.defn(name="publish")
    async def publish(args: dict[str, Any]) -> bool:
        info = activity.info()
        headers = attribution(info.workflow_id or "", int(args["step"]), await activity_epoch(),
                              settings.executor_id)  # fmt: skip
        return await asyncio.to_thread(post_effect, settings.provider_url, "publish",
                                       args["key"], {"report": args["report"]}, headers)

    return publish


async def run_until_sigterm(worker: Worker, executor_id: str) -> None:
    """Print ``worker <id> ready``, poll until SIGTERM (or the worker fails: its error is
    raised), then shut down gracefully."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    running = asyncio.ensure_future(worker.run())
    print(f"worker {executor_id} ready", flush=True)
    await asyncio.wait({running, asyncio.ensure_future(stop.wait())},
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    if running.done():
        running.result()  # the worker failed: raise its error
    await worker.shutdown()
    with contextlib.suppress(Exception):
        await running
