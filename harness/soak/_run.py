"""Run one soak: W workflows submitted over time to N workers of one SUT while the nemesis
fires its schedule; then a quiescence period; then the whole history is collected.

Steps of :func:`run_soak`, reusing the trial runner's pieces (:class:`harness.runner._Trial`
for the database, links and workers, :class:`harness.runner._Supervisor` for pod restarts):
1. a golden run of the workload (no fault) gives the per-workflow baseline;
2. a fresh database, one pair of Toxiproxy links shared by the soak's workers, and ``workers``
   workers (executors ``soak-w0`` ...); a worker a fault took down is replaced as that fault's
   planned recovery says (:class:`SoakSupervisor`);
3. the nemesis starts; workflows are submitted at their planned arrival times (a submission
   that fails because Postgres is down is retried: starting an id that exists is idempotent);
4. after the last heal every workflow gets ``quiesce_bound_s`` to become terminal;
5. the history (ledger, effects, tools, step records, claims, workflow records, outcomes and
   harness events) is read, the executors still alive are noted, everything is torn down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

import psycopg

from harness.env import Environment
from harness.history import GoldenBaseline, History, Outcome
from harness.runner import GoldenCache, _prepare, _Supervisor, _Trial
from harness.scenario import SUITE_PARAMS
from harness.services import ServicePool
from harness.soak._nemesis import SOAK_OOM, Nemesis, executor_of, slot_of
from harness.soak._plan import SoakPlan
from harness.sut import ClientContext, SutClient, WorkerOptions
from harness.sut._protocol import ReportsClaims
from harness.trial import TrialSpec, canonical_params

T = TypeVar("T")
RETRY_S = 0.25


@dataclass(frozen=True)
class SoakRun:
    plan: SoakPlan
    history: History
    golden: GoldenBaseline
    live_executors: frozenset[str]
    """Executors with a live worker when the history was read (for "stuck")."""
    fault_errors: tuple[str, ...]
    wall_s: float
    promised: frozenset[str]


def _retrying(op: Callable[[], T], until: float, what: str) -> T:
    """``op()``, retried while Postgres is down or unreachable (a db_crash in progress)."""
    while True:
        try:
            return op()
        except TimeoutError:
            raise  # a wait that ran out is an answer, not an unreachable Postgres
        except (psycopg.Error, OSError) as exc:
            if time.monotonic() > until:
                raise RuntimeError(f"{what}: Postgres still unreachable: {exc}") from exc
            time.sleep(RETRY_S)


def soak_spec(plan: SoakPlan) -> TrialSpec:
    o = plan.options
    return TrialSpec(scenario="soak", sut=o.sut, workload=o.workload,
                     params_json=canonical_params(SUITE_PARAMS.to_json()), seed=o.seed,
                     timeout_s=3600.0, terminate_bound_s=o.quiesce_bound_s,
                     trigger_name="nemesis",
                     options=WorkerOptions(worker_concurrency=o.worker_concurrency,
                                           queue_concurrency=o.queue_concurrency))  # fmt: skip


def _submit(plan: SoakPlan, trial: _Trial, client: SutClient, t0: float,
            submitted: list[str]) -> None:
    spec = trial.spec
    for i, at in enumerate(plan.arrivals_s):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        wid = f"{trial.workflow_id}-{i:05d}"
        _retrying(partial(client.start, spec.workload, wid, spec.params),
                  time.monotonic() + 120.0, f"starting {wid}")
        trial.events.add("workflow_started", detail={"workflow_id": wid})
        submitted.append(wid)


def _wait_until(client: SutClient, workflow_id: str, deadline: float) -> Outcome:
    return client.wait(workflow_id, max(0.1, deadline - time.monotonic()))


def _await_all(client: SutClient, ids: list[str], deadline: float) -> list[Outcome]:
    outcomes = []
    for wid in ids:
        try:
            outcomes.append(_retrying(
                partial(_wait_until, client, wid, deadline),
                deadline + 30.0, f"waiting for {wid}"))
        except TimeoutError:
            continue  # judged as lost by the checkers
    return outcomes


def _collect(trial: _Trial, client: SutClient, ids: list[str], outcomes: list[Outcome],
             golden: GoldenBaseline, started_ns: int) -> History:
    until = time.monotonic() + 60.0
    workflows = _retrying(lambda: client.workflows(ids), until, "reading workflows")
    all_ids = {w.workflow_id for w in workflows} | set(ids)
    provider = trial.env.provider_client()
    ledger = [e for e in provider.ledger() if e.workflow_id in all_ids]
    effects = [e for e in provider.effects() if e.workflow_id in all_ids]
    tools = [t for t in provider.tools() if t.workflow_id in all_ids]
    steps = (_retrying(lambda: client.step_records(sorted(all_ids)), until, "reading steps")
             if trial.sut.checkpointing else [])
    claims = (_retrying(lambda: client.claims(sorted(all_ids)), until, "reading claims")
              if isinstance(client, ReportsClaims) else [])
    return History(
        trial_id=trial.workflow_id, workflow_ids=tuple(ids), checkpointing=trial.sut.checkpointing,
        ledger=tuple(sorted(ledger, key=lambda e: e.received_ns)),
        steps=tuple(sorted(steps, key=lambda s: s.recorded_ns)),
        workflows=tuple(workflows), outcomes=tuple(outcomes), effects=tuple(effects),
        events=tuple(trial.events.items),
        tools=tuple(sorted(tools, key=lambda t: t.started_ns)),
        claims=tuple(sorted(claims, key=lambda c: c.claimed_ns)),
        golden=golden, terminate_bound_s=trial.spec.terminate_bound_s,
        started_ns=started_ns, ended_ns=time.time_ns(),
    )


class SoakSupervisor(_Supervisor):
    """The soak's orchestrator: a dead worker is replaced as its fault planned
    (:attr:`Nemesis.recovery_of`; a death no fault planned is restarted):

    - ``restart``: the same executor id starts again at once;
    - ``rolling``: nothing (the nemesis started the replacement before the fault landed);
    - ``standby``: a fresh executor id fills the slot at once; the dead one's work is the live
      peers' to claim, natively;
    - ``supervised``: ``detection_delay_s`` after the death, the dead executor's workflows are
      handed to a live worker through the SUT's recovery entry point
      (:class:`harness.sut.RecoversExecutors`), then a fresh executor id fills the slot.
    """

    def __init__(self, trial: _Trial, recovery_of: Callable[[int], str],
                 handovers_of: Callable[[int], int] = lambda pid: 1) -> None:
        super().__init__(trial)
        self.recovery_of = recovery_of
        self.handovers_of = handovers_of
        self.generations: dict[int, int] = {}

    def _check(self) -> None:
        for worker in self._newly_dead():
            if self.stopping.is_set():
                continue
            policy = self.recovery_of(worker.pid)
            if policy == "rolling":
                continue
            if policy == "restart":
                self.trial.start_worker(worker.executor_id, wait_ready=False)
                continue
            if policy == "supervised":
                if self.stopping.wait(self.trial.spec.recovery.detection_delay_s):
                    return
                self._hand_over(worker.executor_id, "exited",
                                handovers=self.handovers_of(worker.pid))
            slot = slot_of(worker.executor_id) or 0
            self.generations[slot] = self.generations.get(slot, 0) + 1
            self.trial.start_worker(executor_of(slot, self.generations[slot]), wait_ready=False)


def _start_workers(trial: _Trial, count: int) -> None:
    started = [trial.start_worker(executor_of(i), wait_ready=False) for i in range(count)]
    for worker in started:
        worker.wait_ready(timeout_s=60.0)


def run_soak(env: Environment, plan: SoakPlan) -> SoakRun:
    """Run ``plan`` in ``env``; never leaves a worker, link or service behind, also on error."""
    with ServicePool(env) as pool:
        return _run_soak(env, plan, pool)


def _run_soak(env: Environment, plan: SoakPlan, pool: ServicePool) -> SoakRun:
    wall0 = time.monotonic()
    spec = soak_spec(plan)
    golden = GoldenCache(env, pool).baseline(
        replace(spec, scenario="soak-golden", timeout_s=120.0))
    shaper = SOAK_OOM if "oom" in plan.options.kinds else None  # memory limits, own switches
    trial = _prepare(env, spec, time.monotonic(), pool, shaper=shaper)
    trial.events.add("trial_started", detail={"trial_id": trial.workflow_id})
    started_ns = time.time_ns()
    submitted: list[str] = []
    nemesis: Nemesis | None = None
    supervisor = SoakSupervisor(
        trial, lambda pid: nemesis.recovery_of.get(pid, "restart") if nemesis else "restart",
        lambda pid: nemesis.handovers_of.get(pid, 1) if nemesis else 1)
    try:
        ctx = ClientContext(postgres_url=trial.db_url, provider_url=env.provider_client().base_url,
                            service_urls=trial.services.direct_urls,
                            options=trial.spec.options)
        with trial.sut.connect(ctx) as client:
            _start_workers(trial, plan.options.workers)
            supervisor.client = client
            supervisor.start()
            t0, started_ns = time.monotonic(), time.time_ns()  # the soak's clock starts here
            nemesis = Nemesis(plan, trial, t0, lambda: submitted[-1] if submitted else "")
            nemesis.start()
            try:
                _submit(plan, trial, client, t0, submitted)
                nemesis.join()
                deadline = time.monotonic() + plan.options.quiesce_bound_s
                outcomes = _await_all(client, submitted, deadline)
            finally:
                if nemesis.is_alive():
                    nemesis.stop()
            with trial.lock:
                live = frozenset(w.executor_id for w in trial.workers if w.alive)
            supervisor.stop()
            trial.stop_workers()  # a consistent snapshot: nothing moves while it is read
            history = _collect(trial, client, submitted, outcomes, golden, started_ns)
    finally:
        supervisor.stopping.set()
        trial.stop_workers()
        env.remove_links(trial.links)
    return SoakRun(plan, history, golden, live, tuple(nemesis.errors if nemesis else ()),
                   time.monotonic() - wall0, frozenset(trial.sut.promises))
