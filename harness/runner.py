"""The trial runner: run one trial end to end and judge it.

Steps of :func:`run_trial`, in order:
1. the SUT's own services, if it has any, started once per environment (:mod:`harness.services`);
   a fresh database and Toxiproxy links (``worker→postgres``, ``worker→provider``, one in front
   of each service) for the trial; worker(s) started per the recovery policy, through the links;
2. a supervisor watches the workers: one that dies (whatever killed it) is recorded and, under
   the ``restart``/``delayed`` policies, replaced by a worker with the same executor id — what a
   pod restart does; under ``standby`` the already-running standby workers (``Recovery.standbys``,
   one by default) take over; under ``supervised`` the harness plays the SUT's documented
   supervisor (e.g. DBOS Conductor): ``detection_delay_s`` after the death it asks the client to
   hand the dead executor's workflows to a live worker (``supervisor_recovered`` event);
3. the trigger is armed, the workflow started;
4. when the trigger fires: the fault is injected, the trigger released, and the fault healed
   (always, in ``finally``); each follow-up fault (``TrialSpec.then``) fires on its anchor on
   the one before it, on the worker that owns the workflow then (:mod:`harness.injection`);
5. wait for the workflow's terminal state (bounded by the trial timeout: past it the trial is
   recorded with a ``trial_timeout`` event and its verdicts come out unknown);
6. the history is collected from the ledger, the SUT's store and the harness's own events;
   every worker is stopped, the links removed; figures are computed and the checkers judge.

:class:`GoldenCache` runs the golden run (the same trial, no fault) once per
(SUT, workload, params, seed) and keeps its baseline.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from harness.checkers import judge
from harness.env import CapabilityUnavailable, Environment, Links, Worker
from harness.env.statements import LogsStatements, StatementLog, statements_unavailable
from harness.faults import FaultUnavailable, ShapesWorkers, WatchesClaimPolls, WorkerSetup
from harness.figures import compute_figures
from harness.followups import followups_unsupported
from harness.history import (
    ROOT_PATH,
    EventKind,
    GoldenBaseline,
    HarnessEvent,
    History,
    JSONValue,
    Outcome,
    golden_from_json,
    history_from_json,
    to_json,
    workflow_paths,
)
from harness.injection import inject
from harness.net import ToxiproxyError, identity_of
from harness.services import RunningServices, ServiceLinks, ServicePool
from harness.sut import (
    ClientContext,
    HandOverFailed,
    RecoversExecutors,
    ReportsClaims,
    ReportsLiveness,
    SutClient,
    SystemUnderTest,
    WorkerSpec,
    get_sut,
    sut_versions,
)
from harness.trial import TrialResult, TrialSpec
from harness.triggers import TriggerContext, TriggerNeverFired

SUPERVISOR_POLL_S = 0.05
HAND_OVER_RETRY_S = 1.0
"""How long after a failed hand-over (:class:`harness.sut.HandOverFailed`) the supervised
policy's supervisor asks again."""
WORKER_START_S = 60.0
"""How long the first workers of a trial may take to print their ready line."""
LIVENESS_POLL_S = 0.25

log = logging.getLogger(__name__)


@dataclass
class _Events:
    """The harness's own part of the history, appended as things happen (thread-safe)."""

    items: list[HarnessEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: EventKind, **fields: JSONValue) -> int:
        with self.lock:
            now = time.time_ns()
            self.items.append(HarnessEvent(at_ns=now, kind=kind, **fields))
            return now


@dataclass
class _Trial:
    """Mutable state of one running trial."""

    spec: TrialSpec
    env: Environment
    sut: SystemUnderTest
    db_url: str
    """The trial's database, direct: the harness's own reads never pass through a faulted link."""
    links: Links
    trial_dir: Path
    workflow_id: str
    deadline: float
    services: RunningServices
    standby_links: Links | None = None
    """The standbys' own links (``Recovery.own_links``); None when every worker shares ``links``."""
    worker_links: dict[str, Links] = field(default_factory=dict)
    """Worker name -> the links it was started with."""
    setup: WorkerSetup = field(default_factory=WorkerSetup)
    events: _Events = field(default_factory=_Events)
    workers: list[Worker] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    statements: StatementLog | None = None
    """The statement log of the trial's database, when a follow-up is anchored on a statement
    or a fault watches the SUT's claim polls (and the environment keeps one)."""
    claim_poll: str | None = None
    """The SUT's claim poll (``SutDescription.claim_poll``), when a fault watches for it and the
    statement log is kept."""

    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())

    @property
    def bystander_id(self) -> str:
        return f"{self.workflow_id}-bystander"

    @property
    def roots(self) -> tuple[str, ...]:
        """The trial's root workflows: its workflow, and the bystander when the spec has one."""
        return (self.workflow_id, self.bystander_id) if self.spec.bystander else (
            self.workflow_id,)

    def start_worker(self, executor_id: str, *, wait_ready: bool = True,
                     standby: bool = False) -> Worker:
        links = self.standby_links if standby and self.standby_links else self.links
        command = self.sut.worker_command(WorkerSpec(
            workload=self.spec.workload,
            postgres_url=links.postgres_url,
            provider_url=links.provider_url,
            executor_id=executor_id,
            options=self.spec.options,
            service_urls=links.service_urls,
        ))
        with self.lock:
            name = f"{executor_id}.{len(self.workers)}"
            try:
                worker = self.env.start_worker(
                    name, executor_id, command.argv, wait_ready=False,
                    extra_env={**command.env, **self.setup.env_for(executor_id)},
                    memory_limit_mb=self.setup.memory_limit_mb,
                )
            except CapabilityUnavailable as exc:
                raise FaultUnavailable(str(exc)) from exc
            self.workers.append(worker)
            self.worker_links[name] = links
            self.events.add("worker_started", worker=name, executor=executor_id, pid=worker.pid)
        if wait_ready:
            worker.wait_ready(timeout_s=min(30.0, self.remaining()))
        return worker

    def worker_for(self, executor: str | None, client: SutClient) -> Worker:
        """The live worker running the workflow: the triggering call's executor, else the owner."""
        if executor is None:
            owners = [w.executor for w in client.workflows([self.workflow_id])]
            executor = owners[0] if owners else None
        with self.lock:
            live = [w for w in self.workers if w.alive]
        for worker in reversed(live):
            if worker.executor_id == executor:
                return worker
        if not live:
            raise RuntimeError(f"no live worker to fault in trial {self.spec.trial_id}")
        return live[0]

    def record_exit(self, worker: Worker, stopped_by: str) -> None:
        oom = (worker.oom_kills() or 0) > 0
        self.events.add("worker_exited", worker=worker.name, executor=worker.executor_id,
                        pid=worker.pid, exit_code=worker.poll(), oom_killed=oom,
                        detail={"stopped_by": stopped_by})  # fmt: skip

    def stop_workers(self) -> None:
        with self.lock:
            workers, self.workers = list(self.workers), []
        for worker in workers:
            was_alive = worker.alive
            worker.stop()
            if was_alive:
                self.record_exit(worker, "teardown")


@dataclass(frozen=True)
class _FailedHandOver:
    """A supervised hand-over not done yet: why the executor was declared dead, how many
    attempts failed, the last failure's text, when to ask again (monotonic), and how many
    executors to ask at once (0: the trial's ``Recovery.handovers``)."""

    reason: str
    attempts: int = 0
    last_failure: str = ""
    retry_at: float = 0.0
    handovers: int = 0


class _Supervisor(threading.Thread):
    """Notices dead workers and applies the recovery policy (a pod restart, or nothing)."""

    def __init__(self, trial: _Trial) -> None:
        super().__init__(name=f"supervisor-{trial.spec.trial_id}", daemon=True)
        self.trial = trial
        self.stopping = threading.Event()
        self.seen: set[int] = set()
        self.error: BaseException | None = None
        self.client: SutClient | None = None
        """Set before start(); the supervised policy hands executors over through it."""
        self.handed: set[str] = set()
        """Executors the supervised policy declared dead and handed over (each once)."""
        self.unhanded: dict[str, _FailedHandOver] = {}
        """Executor -> its hand-over that failed: asked again :data:`HAND_OVER_RETRY_S` later,
        of the next live executor in turn."""
        self.next_liveness_check = 0.0

    def run(self) -> None:
        try:
            while not self.stopping.wait(SUPERVISOR_POLL_S):
                self._check()
                self._check_silence()
                for executor, failed in list(self.unhanded.items()):
                    self._hand_over(executor, failed.reason)
        except BaseException as exc:  # surfaced by stop(); a dead supervisor must not hide
            self.error = exc

    def _newly_dead(self) -> list[Worker]:
        """The workers found dead since the last look, each recorded once as died."""
        with self.trial.lock:
            dead = [w for w in self.trial.workers if not w.alive and w.pid not in self.seen]
        for worker in dead:
            self.seen.add(worker.pid)
            self.trial.record_exit(worker, "died")
        return dead

    def _check(self) -> None:
        for worker in self._newly_dead():
            recovery = self.trial.spec.recovery
            if recovery.policy in ("standby", "rolling") or self.stopping.is_set():
                continue  # rolling: the replacement started before the fault (``_inject``)
            if recovery.policy == "supervised":
                if self.stopping.wait(recovery.detection_delay_s):
                    return
                self._hand_over(worker.executor_id, "exited")
                continue
            if self.stopping.wait(recovery.delay_s if recovery.policy == "delayed" else 0.0):
                return
            self.trial.start_worker(worker.executor_id, wait_ready=False)

    def _check_silence(self) -> None:
        """``supervised`` only: a live worker silent for ``detection_delay_s`` (frozen, cut off)
        is declared dead like an exited one, when the client can tell (ReportsLiveness)."""
        recovery = self.trial.spec.recovery
        now = time.monotonic()
        if (recovery.policy != "supervised" or not isinstance(self.client, ReportsLiveness)
                or now < self.next_liveness_check):
            return
        self.next_liveness_check = now + LIVENESS_POLL_S
        with self.trial.lock:
            alive = sorted({w.executor_id for w in self.trial.workers if w.alive} - self.handed)
        if len(alive) < 2:
            return  # nobody to hand over to
        for executor in self.client.silent_executors(alive, recovery.detection_delay_s):
            self._hand_over(executor, "silent")

    def _hand_over(self, dead_executor: str, reason: str, handovers: int | None = None) -> None:
        """The supervisor's move: the dead executor's workflows go to a live worker (to
        ``handovers`` at once; default: the trial's ``Recovery.handovers``)."""
        client = self.client
        if not isinstance(client, RecoversExecutors):
            raise RuntimeError(f"SUT {self.trial.sut.name}'s client has no recover_executor(); "
                               "the supervised policy needs it (harness.sut.RecoversExecutors)")
        if dead_executor in self.handed:
            return
        before = self.unhanded.get(dead_executor, _FailedHandOver(reason))
        if time.monotonic() < before.retry_at:
            return  # it failed a moment ago: ask again after HAND_OVER_RETRY_S
        with self.trial.lock:
            live = [w for w in self.trial.workers
                    if w.alive and w.executor_id not in (dead_executor, *self.handed)]
        if not live:
            return
        # after a failure, the next one in turn; several hand-overs at once ask as many
        handovers = handovers or before.handovers or self.trial.spec.recovery.handovers
        first, count = before.attempts, min(handovers, len(live))
        asked_all = [live[(first + n) % len(live)] for n in range(count)]
        answers = _ask_all(client, dead_executor, asked_all)
        failures = [a for a in answers.values() if isinstance(a, HandOverFailed)]
        if len(failures) == len(asked_all):
            self.unhanded[dead_executor] = _FailedHandOver(
                reason, before.attempts + 1, str(failures[0]),
                time.monotonic() + HAND_OVER_RETRY_S, handovers)
            return
        self.unhanded.pop(dead_executor, None)
        self.handed.add(dead_executor)
        retried = ({"failed_attempts": before.attempts, "last_failure": before.last_failure}
                   if before.attempts else {})
        concurrent = {"concurrent_with": [w.executor_id for w in asked_all]} if count > 1 else {}
        for asked in asked_all:
            handed = answers[asked.executor_id]
            answer: dict[str, JSONValue] = (
                {"failed": str(handed)} if isinstance(handed, HandOverFailed)
                else {"workflows": list(handed)})
            self.trial.events.add("supervisor_recovered", worker=asked.name,
                                  executor=asked.executor_id,
                                  detail={"dead_executor": dead_executor, "reason": reason,
                                          **answer, "detection_delay_s":
                                              self.trial.spec.recovery.detection_delay_s,
                                          **retried, **concurrent})

    def stop(self) -> None:
        """Stop watching; a last sweep records a death the final poll interval hid."""
        self.stopping.set()
        self.join(timeout=30.0)
        if self.error is None:
            self._check()
        if self.error is not None:
            raise RuntimeError(f"the trial supervisor failed: {self.error}") from self.error


def _ask_all(client: RecoversExecutors, dead_executor: str,
             asked: list[Worker]) -> dict[str, list[str] | HandOverFailed]:
    """Each asked executor's answer to recovering ``dead_executor``: one at once, or several
    concurrently (a thread each, started together)."""
    answers: dict[str, list[str] | HandOverFailed] = {}
    errors: list[BaseException] = []

    def ask(worker: Worker) -> None:
        try:
            answers[worker.executor_id] = client.recover_executor(dead_executor,
                                                                  worker.executor_id)
        except HandOverFailed as exc:
            answers[worker.executor_id] = exc
        except BaseException as exc:  # the supervisor's own failure: raised where it runs
            errors.append(exc)

    if len(asked) == 1:
        ask(asked[0])
        return answers
    threads = [threading.Thread(target=ask, args=(w,), name=f"hand-over-{w.executor_id}",
                                daemon=True) for w in asked]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return answers


def _start_workers(trial: _Trial) -> None:
    short = uuid.uuid4().hex[:6]
    started = [trial.start_worker(f"w1-{short}", wait_ready=False)]
    recovery = trial.spec.recovery
    if recovery.policy in ("standby", "supervised") and trial.spec.fault is not None:
        started += [trial.start_worker(f"w{n + 2}-{short}", wait_ready=False, standby=True)
                    for n in range(recovery.standbys)]
    for worker in started:  # started together, so a standby costs no extra start-up time
        worker.wait_ready(timeout_s=WORKER_START_S)
    # The trial's timeout bounds the workflow, not the start-up: on a loaded machine a worker may
    # take seconds to import its runtime, and that must not eat the trial's budget.
    trial.deadline = time.monotonic() + trial.spec.timeout_s


def _drive(trial: _Trial, client: SutClient) -> list[Outcome]:
    spec = trial.spec
    ctx = TriggerContext(trial.env.provider_client(), client, trial.workflow_id)
    try:
        setup = [rule.install(ctx.provider, trial.workflow_id) for rule in spec.setup_rules]
        if spec.trigger is not None:
            spec.trigger.arm(ctx)
        client.start(spec.workload, trial.workflow_id, spec.params)
        trial.events.add("workflow_started", detail={"workflow_id": trial.workflow_id})
        if spec.bystander and spec.behind:
            _start_bystander(trial, client)
        if spec.fault is not None and spec.trigger is not None:
            fired = spec.trigger.wait(ctx, trial.remaining())
            for rule_id in setup:  # the world before the fault; recovery meets a healthy one
                ctx.provider.release(rule_id)
            trial.events.add("trigger_fired", executor=fired.executor, detail=fired.detail)
            trigger = spec.trigger
            inject(trial, 0, fired.executor, client, lambda: trigger.after_inject(ctx))
        outcomes = _await_outcome(trial, client, trial.workflow_id)
        if spec.bystander:
            if not spec.behind:
                _start_bystander(trial, client)
            outcomes += _await_outcome(trial, client, trial.bystander_id)
        return outcomes
    except (TriggerNeverFired, TimeoutError) as exc:
        trial.events.add("trial_timeout", detail={"error": str(exc)})
        return []
    finally:
        if spec.trigger is not None:
            spec.trigger.disarm(ctx)


def _start_bystander(trial: _Trial, client: SutClient) -> None:
    client.start(trial.spec.workload, trial.bystander_id, trial.spec.params)
    trial.events.add("workflow_started", detail={"workflow_id": trial.bystander_id})


def _await_outcome(trial: _Trial, client: SutClient, workflow_id: str) -> list[Outcome]:
    """The workflow's terminal outcome through two handles (the second reads it again)."""
    outcome = client.wait(workflow_id, trial.remaining())
    again = client.wait(workflow_id, 5.0)
    return [outcome, Outcome(again.workflow_id, "handle-2", again.status, again.output,
                             again.observed_ns)]  # fmt: skip


def _collect(trial: _Trial, client: SutClient, outcomes: list[Outcome],
             golden: GoldenBaseline | None, started_ns: int) -> History:
    roots = trial.roots
    workflows = client.workflows(list(roots))
    ids = [w.workflow_id for w in workflows] or list(roots)
    provider = trial.env.provider_client()
    ledger = [e for wid in ids for e in provider.ledger(wid)]
    effects = [e for wid in ids for e in provider.effects(wid)]
    tools = [t for wid in ids for t in provider.tools(wid)]
    steps = client.step_records(ids) if trial.sut.checkpointing else []
    claims = client.claims(ids) if isinstance(client, ReportsClaims) else []
    trial.stop_workers()
    ended_ns = trial.events.add("trial_ended")
    return History(
        trial_id=trial.spec.trial_id,
        workflow_ids=roots,
        checkpointing=trial.sut.checkpointing,
        ledger=tuple(sorted(ledger, key=lambda e: e.received_ns)),
        steps=tuple(sorted(steps, key=lambda s: s.recorded_ns)),
        workflows=tuple(workflows),
        outcomes=tuple(outcomes),
        effects=tuple(effects),
        events=tuple(trial.events.items),
        tools=tuple(sorted(tools, key=lambda t: t.started_ns)),
        claims=tuple(sorted(claims, key=lambda c: c.claimed_ns)),
        golden=golden,
        terminate_bound_s=trial.spec.terminate_bound_s,
        started_ns=started_ns,
        ended_ns=ended_ns,
    )


def _postgres_version(db_url: str) -> str:
    """The server version of the trial's Postgres (``SHOW server_version``), read directly.

    Best effort: a version that cannot be read is recorded as "" rather than failing the trial.
    """
    try:
        with psycopg.connect(db_url, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return ""
    return str(row[0]) if row else ""


def _prepare(env: Environment, spec: TrialSpec, t0: float, pool: ServicePool,
             shaper: ShapesWorkers | None = None) -> _Trial:
    """The trial's database, directory, links and worker setup (from ``shaper``, else from the
    spec's fault: the soak shapes its workers for faults its spec does not name)."""
    sut = get_sut(spec.sut)
    if spec.fault is not None and spec.recovery.policy not in sut.recovery_policies:
        raise ValueError(
            f"SUT {sut.name!r} does not support the {spec.recovery.policy!r} recovery policy; "
            f"it supports {', '.join(sorted(sut.recovery_policies))}"
        )
    unsupported = followups_unsupported(spec, sut)
    if unsupported is not None:
        raise ValueError(unsupported)
    logs_statements = any(f.when == "statement" for f in spec.then)
    if logs_statements and (unavailable := statements_unavailable(env)) is not None:
        raise CapabilityUnavailable(unavailable)
    claim_poll = _watched_claim_poll(spec, sut, env)
    logs_statements = logs_statements or claim_poll is not None
    services = pool.for_sut(sut)
    db_url = env.create_database(spec.trial_id)
    label = f"{spec.trial_id}-{uuid.uuid4().hex[:8]}"
    trial_dir = env.work_dir / label
    trial_dir.mkdir(parents=True)
    trial_dir.chmod(0o777)  # workers may run as another user (containers); faults drop files here
    shaping = shaper if shaper is not None else spec.fault
    setup = shaping.worker_setup(trial_dir) if isinstance(shaping, ShapesWorkers) else WorkerSetup()
    links = env.create_links(spec.trial_id, db_url)
    try:
        service_links = services.link(env, spec.trial_id)
    except BaseException:
        env.remove_links(links)
        raise
    links = replace(links, service_urls=service_links.worker_urls,
                    service_proxies=service_links.proxies)  # fmt: skip
    standby_links = None
    if spec.recovery.own_links and spec.fault is not None:
        try:  # the SUT's own services stay behind the first worker's service links
            standby_links = replace(env.create_links(f"{spec.trial_id}-sb", db_url),
                                    service_urls=links.service_urls)
        except BaseException:
            env.remove_links(links)
            RunningServices.unlink(env, service_links)
            raise
    statements = None
    if logs_statements:
        assert isinstance(env, LogsStatements)
        statements = env.statement_log(db_url)  # before any worker connects
    return _Trial(spec, env, sut, db_url, links, trial_dir, workflow_id=label,
                  deadline=t0 + spec.timeout_s, services=services,
                  standby_links=standby_links, setup=setup,
                  statements=statements, claim_poll=claim_poll)  # fmt: skip


def _watched_claim_poll(spec: TrialSpec, sut: SystemUnderTest, env: Environment) -> str | None:
    """The SUT's claim poll when one of the trial's faults watches for it and ``env`` can log the
    statements it would be seen in; else None (the fault goes by time)."""
    if not any(isinstance(f, WatchesClaimPolls) and f.watches_claim_polls for f in spec.faults):
        return None
    if statements_unavailable(env) is not None:
        return None
    return sut.describe().claim_poll


def _drop_database(env: Environment, url: str) -> None:
    """The trial's database, once read: dropped (see :meth:`Environment.drop_database`); a
    failure to drop it is logged, never the trial's."""
    try:
        env.drop_database(url)
    except Exception as exc:  # the trial's outcome does not depend on it
        log.warning("could not drop the trial database: %s", exc)


def run_trial(env: Environment, spec: TrialSpec, golden: GoldenBaseline | None = None,
              services: ServicePool | None = None) -> TrialResult:
    """Run ``spec`` in ``env``; never leaves a worker or link behind, also on error or timeout.

    ``services``: the pool that keeps SUTs' own services running between trials; without one,
    a SUT's services are started for this trial and torn down after it.

    Raises :class:`harness.faults.FaultUnavailable` when the fault cannot run on this machine,
    :class:`ValueError` when the SUT does not support the trial's recovery policy.
    """
    if services is None:
        with ServicePool(env) as pool:
            return run_trial(env, spec, golden, pool)
    started_ns, t0 = time.time_ns(), time.monotonic()
    toxiproxy = toxiproxy_label(env)
    trial = _prepare(env, spec, t0, services)
    trial.events.add("trial_started", detail={"trial_id": spec.trial_id})
    supervisor = _Supervisor(trial)
    try:
        ctx = ClientContext(postgres_url=trial.db_url, provider_url=env.provider_client().base_url,
                            service_urls=trial.services.direct_urls,
                            options=trial.spec.options)
        with trial.sut.connect(ctx) as client:
            _start_workers(trial)
            supervisor.client = client
            supervisor.start()
            try:
                outcomes = _drive(trial, client)
            finally:
                supervisor.stop()
            history = _collect(trial, client, outcomes, golden, started_ns)
        postgres_version = _postgres_version(trial.db_url)
    finally:
        supervisor.stopping.set()
        trial.stop_workers()
        env.remove_links(trial.links)
        if trial.standby_links is not None:
            env.remove_links(trial.standby_links)
        RunningServices.unlink(env, ServiceLinks(trial.links.service_urls,
                                                 trial.links.service_proxies))
        _drop_database(env, trial.db_url)
    judgement = judge(history, trial.sut.promises)
    sut_version, sut_packages = sut_versions(trial.sut)
    return TrialResult(
        spec=spec,
        env=env.name,
        run_id=env.run_id,
        history=history,
        figures=compute_figures(history),
        judgement=judgement,
        golden_tokens_billed=golden.tokens_billed if golden else None,
        golden_duration_s=golden.duration_s if golden else None,
        started_at=datetime.datetime.fromtimestamp(started_ns / 1e9, datetime.UTC).isoformat(),
        wall_s=time.monotonic() - t0,
        postgres_version=postgres_version,
        promised=frozenset(trial.sut.promises),
        twin=trial.sut.twin,
        toxiproxy=toxiproxy,
        sut_version=sut_version,
        sut_packages=sut_packages,
    )


def toxiproxy_label(env: Environment) -> str:
    """Which Toxiproxy serves ``env``'s links (``real 2.12.0`` / ``embedded``), asked of the
    server itself, so it is right however the environment found it."""
    try:
        return identity_of(env.toxiproxy()).label
    except ToxiproxyError as exc:
        return f"unknown ({type(exc).__name__})"


def golden_baseline(result: TrialResult) -> GoldenBaseline:
    """The baseline a golden run gives the faulted trials of the same key."""
    roots = [w for w in result.history.workflows if w.workflow_id in result.history.workflow_ids]
    if result.history.timed_out or not roots or roots[0].status != "SUCCESS":
        status = roots[0].status if roots else "not found"
        raise RuntimeError(
            f"golden run {result.spec.trial_id} did not complete (workflow {status}, "
            f"timed out: {result.history.timed_out}); see the worker logs in the environment"
        )
    history = result.history
    paths = workflow_paths(history.workflow_ids, history.workflows)
    by_path: dict[str, dict[int, int]] = {}
    for entry in history.trial_ledger():
        path = paths.get(entry.workflow_id or "")
        if entry.step is not None and path is not None:
            steps = by_path.setdefault(path, {})
            steps[entry.step] = steps.get(entry.step, 0) + entry.tokens
    effects: dict[str, set[str]] = {}
    for effect in history.effects:
        path = paths.get(effect.workflow_id or "")
        if effect.applied and path is not None:
            effects.setdefault(path, set()).add(effect.name)
    fig = result.figures
    return GoldenBaseline(
        tokens_billed=fig.tokens_billed,
        calls=fig.calls,
        cost_usd=fig.cost_usd,
        duration_s=fig.duration_s or 0.0,
        step_tokens=dict(by_path.get(ROOT_PATH, {})),
        path_step_tokens=by_path,
        tool_executions=fig.tool_executions,
        path_effects={path: tuple(sorted(names)) for path, names in effects.items()},
    )


def with_golden(result: TrialResult, golden: GoldenBaseline) -> TrialResult:
    """The same trial's figures and verdicts against ``golden``: for a trial that ran beside its
    golden run instead of after it (the history is complete either way; only the baseline was
    missing)."""
    history = dataclasses.replace(result.history, golden=golden)
    return dataclasses.replace(
        result, history=history, figures=compute_figures(history),
        judgement=judge(history, result.judgement.promised),
        golden_tokens_billed=golden.tokens_billed,
        golden_duration_s=golden.duration_s)


class GoldenCache:
    """Golden runs, once per (SUT, workload, params, seed); safe to share between threads.

    With ``shared_dir`` (pytest-xdist: a directory every worker process of one run sees) the
    baselines are shared between processes too: the first process to need one runs it under a
    file lock and records it; the others read its baseline and record nothing, so a results store
    holds each golden run once.
    """

    def __init__(self, env: Environment, services: ServicePool | None = None,
                 shared_dir: Path | None = None) -> None:  # fmt: skip
        self._env = env
        self._services = services
        self._shared_dir = shared_dir
        self._lock = threading.Lock()
        self._baselines: dict[tuple[object, ...], GoldenBaseline] = {}
        self.results: list[TrialResult] = []

    def cached(self, spec: TrialSpec) -> GoldenBaseline | None:
        """The baseline of ``spec`` if its golden run is done, else None (runs nothing)."""
        with self._lock:
            return self._baselines.get(spec.golden_key)

    def store(self, result: TrialResult) -> GoldenBaseline:
        """Keep a golden run made elsewhere (e.g. in parallel with its trials)."""
        baseline = golden_baseline(result)
        with self._lock:
            if result.spec.golden_key not in self._baselines:
                self.results.append(result)
                self._baselines[result.spec.golden_key] = baseline
            return self._baselines[result.spec.golden_key]

    def baseline(self, spec: TrialSpec) -> GoldenBaseline:
        with self._lock:
            key = spec.golden_key
            if key not in self._baselines:
                self._baselines[key] = (self._run(spec) if self._shared_dir is None
                                        else self._shared(spec))  # fmt: skip
            return self._baselines[key]

    def _run(self, spec: TrialSpec) -> GoldenBaseline:
        result = run_trial(self._env, spec.golden(), services=self._services)
        self.results.append(result)
        return golden_baseline(result)

    def _shared_path(self, spec: TrialSpec, suffix: str) -> Path:
        assert self._shared_dir is not None
        digest = hashlib.sha256(repr((self._env.name, spec.golden_key)).encode()).hexdigest()[:20]
        return self._shared_dir / f"golden-{digest}{suffix}"

    def _shared(self, spec: TrialSpec) -> GoldenBaseline:
        assert self._shared_dir is not None
        self._shared_dir.mkdir(parents=True, exist_ok=True)
        path = self._shared_path(spec, ".json")
        with open(self._shared_path(spec, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                return golden_from_json(json.loads(path.read_text()))
            baseline = self._run(spec)
            history = self._shared_path(spec, ".history.json")
            history.write_text(json.dumps(to_json(self.results[-1].history)))
            path.write_text(json.dumps(to_json(baseline)))
            return baseline

    def history(self, spec: TrialSpec) -> History | None:
        """The golden run's history for ``spec``: run here, or by another process sharing the
        golden directory; None when neither has it."""
        with self._lock:
            for result in self.results:
                if result.spec.golden_key == spec.golden_key:
                    return result.history
        if self._shared_dir is None:
            return None
        path = self._shared_path(spec, ".history.json")
        return history_from_json(json.loads(path.read_text())) if path.exists() else None
