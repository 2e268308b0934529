"""What every Temporal worker of durabench shares (the hand-written adapter's and the framework
SUTs'): the worker options and activity options the trial's timeouts give, and the loop that
polls until SIGTERM. Imports ``temporalio``: workers only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from harness.sut.temporal import TemporalTimeouts

T = TypeVar("T")


def retry_policy(t: TemporalTimeouts) -> RetryPolicy:
    return RetryPolicy(initial_interval=timedelta(seconds=t.retry_initial_s),
                       backoff_coefficient=2.0, maximum_interval=timedelta(seconds=t.retry_max_s),
                       maximum_attempts=t.maximum_attempts)  # fmt: skip


def activity_options(t: TemporalTimeouts) -> dict[str, Any]:
    """``start_to_close_timeout``, ``heartbeat_timeout`` (= the lease) and ``retry_policy``: the
    keyword arguments of ``workflow.execute_activity`` (and the keys of an ``ActivityConfig``)."""
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
