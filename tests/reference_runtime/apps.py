"""Workflows the reference runtime tests run, in-process and in worker subprocesses.

Subprocess workers import this module as ``tests.reference_runtime.apps:app``. They coordinate
with the test through files in a directory passed as a workflow argument: steps append lines
``<label> <executor> <epoch>`` to ``<dir>/log`` and :func:`gate` blocks until ``<dir>/go`` exists.
In-process tests use the module-level counters and events instead.
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from reference_runtime import (
    App,
    StepFailedError,
    WorkflowFailedError,
    current_context,
    pending_ref,
    record_pending_ref,
)

app = App("reference-runtime-tests")

COUNTS: collections.Counter[str] = collections.Counter()
GATES: dict[str, threading.Event] = collections.defaultdict(threading.Event)
FLAGS: dict[str, bool] = {}
ATTEMPT_TIMES: dict[str, list[float]] = collections.defaultdict(list)


# -- file-coordinated steps (subprocess workers) -------------------------------------------------
def _log(path: str, label: str) -> None:
    ctx = current_context()
    who = f"{ctx.executor_id} {ctx.epoch}" if ctx else "- -"
    with open(Path(path) / "log", "a") as out:
        out.write(f"{label} {who}\n")
        out.flush()


@app.step()
def mark(path: str, label: str) -> str:
    _log(path, label)
    return label


@app.step()
def gate(path: str, label: str) -> str:
    _log(path, f"{label}-start")
    deadline = time.monotonic() + 60
    while not (Path(path) / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}/go never appeared")
        time.sleep(0.02)
    _log(path, f"{label}-done")
    return label


@app.step()
def die(path: str) -> None:
    _log(path, "die")
    os.kill(os.getpid(), signal.SIGKILL)


@app.workflow()
def gated(path: str) -> list[Any]:
    first = mark(path, "s1")
    second = gate(path, "s2")
    third = mark(path, "s3")
    ctx = current_context()
    return [first, second, third, ctx.executor_id if ctx else None]


@app.step(resumable=True)
def external_job(path: str) -> str:
    """Starts a job outside the process (a file ``<dir>/jobs/<id>``), records its id before
    waiting for ``<dir>/go``; a replay resumes the recorded job while its file is there, and
    starts a new one when it is gone (the outside world dropped it)."""
    ctx = current_context()
    jobs = Path(path) / "jobs"
    known = pending_ref()
    if isinstance(known, str) and (jobs / known).exists():
        _log(path, f"resumed-{known}")
        job = known
    else:
        job = f"job{ctx.epoch if ctx else 0}"
        jobs.mkdir(exist_ok=True)
        (jobs / job).touch()
        record_pending_ref(job)
        _log(path, f"started-{job}")
    deadline = time.monotonic() + 60
    while not (Path(path) / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}/go never appeared")
        time.sleep(0.02)
    return job


@app.workflow()
def resumable_job(path: str) -> list[str]:
    return [mark(path, "s1"), external_job(path), mark(path, "s3")]


@app.workflow()
def crash_loop(path: str) -> str:
    mark(path, "s1")
    die(path)
    return "unreachable"


# -- in-process steps ----------------------------------------------------------------------------
@app.step()
def counted(key: str) -> dict[str, Any]:
    COUNTS[f"counted:{key}"] += 1
    return {"key": key, "value": 42}


@app.step()
def failing(key: str) -> None:
    COUNTS[f"failing:{key}"] += 1
    raise ValueError(f"boom {key}")


@app.step()
def blocked(key: str) -> str:
    COUNTS[f"blocked:{key}"] += 1
    if not GATES[key].wait(30):
        raise TimeoutError(f"gate {key} never opened")
    return "opened"


@app.step()
def after(key: str) -> str:
    COUNTS[f"after:{key}"] += 1
    return "after"


@app.workflow()
def replayable(key: str) -> list[Any]:
    value = counted(key)
    try:
        failing(key)
        error_type = None
    except StepFailedError as exc:
        error_type = exc.error_type
    opened = blocked(key)
    return [value, error_type, opened]


@app.workflow()
def cancellable(key: str) -> str:
    counted(key)
    blocked(key)
    return after(key)


@app.step()
def step_a() -> str:
    return "a"


@app.step()
def step_b() -> str:
    return "b"


@app.workflow()
def branching(key: str) -> str:
    return step_b() if FLAGS.get(key) else step_a()


@app.workflow()
def body_counted(key: str) -> int:
    COUNTS[f"body:{key}"] += 1
    time.sleep(0.05)
    return COUNTS[f"body:{key}"]


@app.step()
def unserialisable() -> Any:
    return {"fine": 1, "bad": object()}


@app.workflow()
def bad_output() -> Any:
    return unserialisable()


@app.step(retries=3, backoff_s=0.05, backoff_max_s=1.0)
def flaky(key: str, failures: int) -> int:
    ATTEMPT_TIMES[key].append(time.monotonic())
    if len(ATTEMPT_TIMES[key]) <= failures:
        raise ConnectionError(f"attempt {len(ATTEMPT_TIMES[key])} failed")
    return len(ATTEMPT_TIMES[key])


@app.step(retries=1, backoff_s=0.01)
def always_fails(key: str) -> None:
    ATTEMPT_TIMES[key].append(time.monotonic())
    raise ValueError("never works")


@app.workflow()
def retrying(key: str, failures: int) -> Any:
    attempts = flaky(key, failures)
    try:
        always_fails(f"{key}-always")
    except StepFailedError as exc:
        return [attempts, exc.error_type]
    return [attempts, None]


@app.workflow()
def child_work(n: int) -> int:
    return int(counted(f"child-{n}")["value"]) + n


@app.workflow()
def child_fails(key: str) -> None:
    failing(key)


@app.workflow()
def parent(n: int) -> list[Any]:
    ctx = current_context()
    assert ctx is not None
    handles = [ctx.start_child(child_work, i) for i in range(n)]
    results: list[Any] = [h.result(timeout=30) for h in handles]
    try:
        ctx.start_child(child_fails, "in-child").result(timeout=30)
    except WorkflowFailedError as exc:
        results.append(f"child failed: {exc.error['type']}")
    return results
