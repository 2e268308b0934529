"""The SUT protocol: what a durable runtime must tell the harness to be judged by it.

A system under test is an object (usually a frozen dataclass) registered under the entry point
group ``durabench.suts``. The reference runtime's two SUTs register exactly like a third party's.
The harness never special-cases a SUT by name: everything it needs is here.

Lifecycle of one trial, as the runner drives a SUT:
1. ``available()`` -- None when the SUT can run here, else a one-line reason naming what to install
   (the trial is skipped with it, or fails under ``DURABENCH_REQUIRE=<name>``);
2. ``services(ctx)`` -- servers of the SUT's own (e.g. Temporal's dev server) that the harness
   starts like Postgres (once per environment), checks (their ``url`` must accept a TCP
   connection) and always tears down; workers reach them through a Toxiproxy link
   (``WorkerSpec.service_urls``), the harness directly (``ClientContext.service_urls``); a
   Postgres-only SUT has none (:mod:`harness.services`). A service runs its program with
   ``ctx.start(ServiceCommand(...))``: a host process in the local environment, a container
   from the project image in the docker one (a service that starts its own host process
   instead runs on ``--env local`` only: docker workers cannot reach it);
3. ``worker_command(spec)`` -- the argv and environment of one worker process (secrets go in the
   environment, never in argv); the worker prints ``worker <id> ready`` once it claims work;
4. ``connect(ctx)`` -- a :class:`SutClient` that starts workflows and reads the SUT's own records
   back into the history;
5. the recovery policy (``restart``, ``delayed``, ``standby``, ``supervised`` or ``rolling``)
   replaces or supplements dead workers (``rolling``: the replacement, same executor id, starts
   beside the old process before the fault lands); ``supervised`` means the harness plays a
   supervisor the runtime's docs call for (e.g. DBOS Conductor): after ``detection_delay_s`` it
   asks the client to hand a dead executor's workflows to a live one (:class:`RecoversExecutors`);
   a client that can tell which executors went silent (:class:`ReportsLiveness`) also gets frozen
   workers handed over.

Optional attribute: ``workloads`` (a frozenset of workload names) -- the only workloads the SUT
runs (an agent written with a framework for one workload); a trial of another skips with the
reason. Absent, the SUT runs every workload of :data:`harness.workloads.WORKLOADS`. And
``unsupported_params`` (a frozenset of workload parameter names): trials that set one of them
(to a true value) skip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, runtime_checkable

from harness.history import Claim, JSONValue, Outcome, Property, StepRecord, WorkflowRecord

RecoveryPolicyName = Literal["restart", "delayed", "standby", "supervised", "rolling"]


@dataclass(frozen=True)
class WorkerOptions:
    """Timing knobs of a worker. Short leases keep trials fast; production would use ~30 s.

    A SUT maps them onto its own settings (a lease, an activity timeout, a heartbeat) and says how
    in :meth:`SystemUnderTest.describe`.
    """

    lease_s: float = 2.0
    heartbeat_s: float = 0.5
    poll_s: float = 0.1
    grace_s: float = 2.0
    max_recovery_attempts: int = 10
    store_retry_s: float | None = None
    """How long one operation of an execution keeps retrying its durable store on a lost
    connection before the execution gives up on it; None: the SUT's own default. Only a SUT whose
    ``SutDescription.store_retry`` is settable maps it onto a setting of its own (the reference
    runtime's ``db_retry_s``); the others ignore it and say why in ``store_retry``."""
    queue_concurrency: int = 0
    """The most workflows of the queue the harness starts them on that may run at once, across
    every worker (a global concurrency limit); 0: no limit. Only a SUT whose
    ``SutDescription.queue_limits`` says so maps it (DBOS: ``Queue(concurrency=)``)."""
    worker_concurrency: int = 0
    """The most workflows of that queue one worker (one executor id) runs at once; 0: no limit.
    Mapped as ``queue_concurrency`` is (DBOS: ``Queue(worker_concurrency=)``; the reference
    runtime: ``Runtime(max_concurrency=)``)."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a SUT needs to build one worker's command."""

    workload: str
    postgres_url: str
    """The trial's database as the worker reaches it (through the ``worker→postgres`` link)."""
    provider_url: str
    """The mock LLM provider as the worker reaches it (through the ``worker→provider`` link)."""
    executor_id: str
    options: WorkerOptions = field(default_factory=WorkerOptions)
    service_urls: Mapping[str, str] = field(default_factory=dict)
    """The SUT's own services as the worker reaches them (through their links), by name."""


@dataclass(frozen=True)
class WorkerCommand:
    """One worker process. ``argv[0]`` is the host's Python; a container environment runs its own.

    ``env`` is added to the worker's environment. Put DSNs and other secrets there, never in argv
    (any local user can read a process's argv).
    """

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceCommand:
    """One server program of a SUT's service, as either environment runs it: a process on this
    host locally, a container from the project image (on the run's network) in Docker.

    ``argv[0]`` is the program on this host; a container runs the program of the same base name
    from its image's PATH (as a worker container runs its own Python). ``{host}`` and ``{port}``
    in ``argv`` become the address the environment has it listen on: 127.0.0.1 and a free port
    locally; 0.0.0.0 and ``port`` in a container, published on a free 127.0.0.1 port. Paths under
    ``work_dir`` (its data and log) are the same in both: a container gets it bind-mounted.
    """

    name: str
    argv: tuple[str, ...]
    work_dir: str
    port: int
    """The port it listens on inside a container."""
    env: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class ServiceProcess(Protocol):
    """A started service program (:meth:`ServiceLauncher.start_service`); readiness is its
    service's to check (``poll`` tells an exit on start apart from a slow start)."""

    @property
    def url(self) -> str:
        """``host:port`` as the harness reaches it; the same after :meth:`start` again."""
        ...

    @property
    def pid(self) -> int:
        """Its main process as this host sees it (0 while it is not running)."""
        ...

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        ...

    def kill(self) -> None:
        """SIGKILL (no clean shutdown), and wait until it is gone."""
        ...

    def start(self) -> None:
        """Run it again after :meth:`kill` or an exit: same address, same data."""
        ...

    def remove(self) -> None:
        """Kill it and release what it holds (a container is removed); idempotent."""
        ...

    def tail(self, lines: int = 15) -> str: ...


class ServiceLauncher(Protocol):
    """Runs service programs where the environment runs its parts (every
    :class:`~harness.env.Environment` is one)."""

    def start_service(self, command: ServiceCommand) -> ServiceProcess:
        """Start ``command`` (not waiting for it to answer); a failure to launch it raises."""
        ...


@dataclass(frozen=True)
class ServiceContext:
    """Where a SUT's own services run: a directory for their data and logs, the run id (label
    everything with it so ``durabench sweep`` can find leftovers), and the environment that
    launches their programs (:meth:`start`)."""

    work_dir: str
    run_id: str
    bind_host: str = "127.0.0.1"
    postgres_url: str = ""
    """The environment's Postgres server as the harness reaches it, for a service that keeps
    its own data there (e.g. a Temporal server with the Postgres persistence); "" if none."""
    launcher: ServiceLauncher | None = None
    """The environment's launcher; None: processes on this host (tests, benchmarks)."""

    def start(self, command: ServiceCommand) -> ServiceProcess:
        """Start a service program where this context's environment runs its parts."""
        if self.launcher is not None:
            return self.launcher.start_service(command)
        from harness.env.service_process import HostServiceProcess

        return HostServiceProcess.launch(command, self.bind_host)


class Service(Protocol):
    """A server of the SUT's own (context manager: started in ``__enter__``, always torn down).

    ``url`` is how the harness reaches it directly; the environment puts a Toxiproxy link in front
    of it for the workers. ``crash()`` stops it without a clean shutdown and ``restart()`` brings it
    back on the same address with its data: the ``db_crash`` fault of a SUT whose durable store this
    service is.
    """

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...

    def crash(self) -> None: ...

    def restart(self) -> None: ...

    def tail(self, lines: int = 15) -> str: ...

    def __enter__(self) -> Service: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(frozen=True)
class ClientContext:
    """What the harness's own client of a SUT may use: direct addresses, never through a link, so
    the harness's reads are not affected by the faults it injects."""

    postgres_url: str
    provider_url: str
    service_urls: Mapping[str, str] = field(default_factory=dict)
    options: WorkerOptions = field(default_factory=WorkerOptions)
    """The trial's worker options, for a SUT whose workflows carry timeouts set when they are
    started (e.g. Temporal's workflow task timeout)."""


class SutClient(Protocol):
    """The harness's side of a SUT: start workflows, read its store."""

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None: ...

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        """Block until the workflow is terminal; raises TimeoutError."""
        ...

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        """Status rows of the roots and all their descendants."""
        ...

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]:
        """Completed steps as the SUT recorded them, each with the executor and the epoch
        (execution attempt) that wrote it; ``[]`` for a SUT that records none."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> SutClient: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class RecoversExecutors(Protocol):
    """Optional ability of a client: hand a dead executor's pending workflows to a live one (what
    an external supervisor such as DBOS Conductor does). Needed for the ``supervised`` policy."""

    def recover_executor(self, dead_executor: str, live_executor: str) -> list[str]:
        """Returns the ids of the workflows handed over; raises :class:`HandOverFailed` when
        the hand-over did not happen (the supervisor asks again, a live executor in turn)."""
        ...


class HandOverFailed(RuntimeError):
    """A supervisor's hand-over did not happen: the runtime's recovery raised, or the live
    executor asked to run it did not answer. Not a trial error: the supervisor asks again, as
    the real one does, and the verdicts judge what the delay cost."""


@runtime_checkable
class ReportsLiveness(Protocol):
    """Optional ability of a client: which executors have gone silent, as the SUT's supervisor
    hears them (DBOS Conductor declares an executor dead when its connection stops answering).
    Lets the ``supervised`` policy detect a frozen (paused) worker, not only an exited one."""

    def silent_executors(self, executor_ids: Sequence[str], silence_s: float) -> list[str]:
        """Those of ``executor_ids`` not heard from for at least ``silence_s`` (never-heard-of
        ones are not silent)."""
        ...


@runtime_checkable
class NeedsPostgresExtensions(Protocol):
    """Optional ability of a SUT: the Postgres extensions its runtime creates in the trial
    database (DBOS before 3.0.0: ``uuid-ossp``, from Postgres contrib). The local environment
    then runs a Postgres that has them (:func:`harness.env.postgres.postgres_bin_dir`)."""

    @property
    def postgres_extensions(self) -> frozenset[str]: ...


@runtime_checkable
class ReportsClaims(Protocol):
    """Optional ability of a client: the claims its store recorded (who took which epoch of a
    workflow, and when). single_active_execution then judges late writes against the exact
    claim time instead of the newer execution's first activity (an upper bound of it)."""

    def claims(self, workflow_ids: Sequence[str]) -> list[Claim]:
        """Every recorded claim of these workflows, in any order."""
        ...


@dataclass(frozen=True)
class EffectFencing:
    """Whether the effect sink refuses a superseded execution's effects for this SUT, and how.

    ``fenced``: the SUT announces each new execution's epoch to the sink before the execution
    takes effect (``POST /v1/effects/fence``), so an effect from a lower epoch is refused once the
    successor claimed. Otherwise effects are applied once per idempotency key, whichever execution
    arrives first -- a zombie included -- and ``how`` says why the SUT cannot announce.
    """

    fenced: bool
    how: str


NOT_FENCED = EffectFencing(
    False, "the runtime exposes no owner epoch that the adapter could announce to the effect "
    "sink before a takeover: effects are refused by idempotency key only")


@dataclass(frozen=True)
class ClaimRecords:
    """Whether the SUT's workflow records show a claim as it happens: the epoch grows and the
    executor becomes the new owner's when an execution claims the workflow, before it runs a
    step. A follow-up fault anchored on a claim (``FollowUp(when="claimed")``) needs it; ``how``
    says how the records show it, or why they cannot.
    """

    visible: bool
    how: str


CLAIMS_NOT_DECLARED = ClaimRecords(
    False, "the SUT does not declare that its workflow records show a new owner's epoch and "
    "executor when it claims a workflow")


@dataclass(frozen=True)
class StoreRetry:
    """Whether the SUT maps :attr:`WorkerOptions.store_retry_s` onto a setting of its own: how
    long an execution rides out an unreachable store before it gives up, leaving the workflow
    for a later claim. A trial can then outlast that window in seconds
    (``scenarios/test_long_outage.py``). ``how`` names the setting, or says how the SUT behaves
    instead (no such window, or one the harness cannot shorten).
    """

    settable: bool
    how: str


STORE_RETRY_NOT_DECLARED = StoreRetry(
    False, "the SUT does not declare a store retry window that WorkerOptions.store_retry_s sets")


@dataclass(frozen=True)
class QueueLimits:
    """Which concurrency limits of the queue its workflows start on the SUT maps from
    :class:`WorkerOptions`: ``per_worker`` (:attr:`WorkerOptions.worker_concurrency`) and
    ``across_workers`` (:attr:`WorkerOptions.queue_concurrency`). A trial can then put a second
    workflow behind a faulted one (``scenarios/test_queue_limit.py``). ``how`` names the
    settings, or says why there are none.
    """

    per_worker: bool
    across_workers: bool
    how: str

    def settable(self, limit: Literal["per_worker", "across_workers"]) -> bool:
        return self.per_worker if limit == "per_worker" else self.across_workers


QUEUE_LIMITS_NOT_DECLARED = QueueLimits(
    False, False, "the SUT does not declare queue concurrency limits that WorkerOptions can set")


@dataclass(frozen=True)
class DurableSleep:
    """Whether ``AgentContext.sleep`` is durable on the SUT: an execution recovered mid-sleep
    wakes when the first one would have (``scenarios/test_durable_sleep.py`` holds it to that),
    not a whole sleep after its recovery. ``how`` names the mechanism, or says why not."""

    durable: bool
    how: str


SLEEP_NOT_DECLARED = DurableSleep(False, "the SUT does not declare a durable sleep")


@dataclass(frozen=True)
class SutDescription:
    """What ``durabench suts`` and the report say about a SUT."""

    summary: str
    """One line: the runtime, its version if known, and its mode."""
    install: str
    """What to install for it, e.g. ``pip install 'durabench[dbos]'``; "" when built in."""
    notes: tuple[str, ...] = ()
    """How it is deployed here, and what the harness plays for it (a supervisor, a resume loop)."""
    known_findings: Mapping[str, str] = field(default_factory=dict)
    """Scenario (or ``scenario::case``) -> the explanation of a known breach of a promise."""
    effect_fencing: EffectFencing = NOT_FENCED
    """Whether a superseded execution's effects are refused at the sink (and why not)."""
    claim_records: ClaimRecords = CLAIMS_NOT_DECLARED
    """Whether its workflow records show a claim when it happens (follow-up faults on a claim)."""
    store_retry: StoreRetry = STORE_RETRY_NOT_DECLARED
    """Whether ``WorkerOptions.store_retry_s`` sets how long it rides out a store outage."""
    queue_limits: QueueLimits = QUEUE_LIMITS_NOT_DECLARED
    """Whether ``WorkerOptions.queue_concurrency`` / ``worker_concurrency`` limit its queue."""
    durable_sleep: DurableSleep = SLEEP_NOT_DECLARED
    """Whether ``AgentContext.sleep`` survives a crash (the wake-up time is recorded)."""
    claim_poll: str | None = None
    """A regular expression over the statement a worker's claim poll sends to its Postgres
    store, as Postgres logs it (``re.search``); None when not declared. A worker sends it only
    while connected, so one arriving after a store restart shows that worker back and polling:
    ``db_crash`` pins the owner's late return on it (:class:`harness.faults.DbCrashFault`)."""


class SystemUnderTest(Protocol):
    """A durable runtime plus its mode. See the module docstring for the lifecycle."""

    @property
    def name(self) -> str: ...

    @property
    def checkpointing(self) -> bool: ...

    @property
    def promises(self) -> frozenset[Property]:
        """The properties whose verdicts decide this SUT's verdict (docs/architecture.md)."""
        ...

    @property
    def twin(self) -> str | None:
        """The name of its checkpointing-off twin (``plain`` for a peer that cannot switch
        checkpointing off); None for a SUT that is itself a twin."""
        ...

    @property
    def recovery_policies(self) -> frozenset[RecoveryPolicyName]:
        """The recovery policies this SUT supports natively or through a documented supervisor."""
        ...

    @property
    def durable_store(self) -> str:
        """What ``db_crash`` crashes: ``"postgres"`` or the name of one of its services."""
        ...

    def available(self) -> str | None:
        """None when it can run here, else the reason and what to install."""
        ...

    def describe(self) -> SutDescription: ...

    def services(self, ctx: ServiceContext) -> Sequence[Service]: ...

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand: ...

    def connect(self, ctx: ClientContext) -> SutClient: ...


REQUIRED_ATTRIBUTES: tuple[str, ...] = (
    "name", "checkpointing", "promises", "twin", "recovery_policies", "durable_store",
    "available", "describe", "services", "worker_command", "connect",
)  # fmt: skip
"""What a registered object must have; checked when it is loaded, not in the middle of a trial."""
