"""The trial runner: run one trial end to end and judge it.

Steps of :func:`run_trial`, in order:
1. a fresh database for the trial; worker(s) started per the recovery policy;
2. the trigger is armed, the workflow started;
3. when the trigger fires: the fault is injected, the trigger released, the fault healed (always,
   in ``finally``), and the recovery policy replaces a worker the fault took down;
4. wait for the workflow's terminal state (bounded by the trial timeout: past it the trial is
   recorded with a ``trial_timeout`` event and its verdicts come out unknown);
5. the history is collected from the ledger, the SUT's store and the harness's own events;
   every worker is stopped; figures are computed and the checkers judge.

:class:`GoldenCache` runs the golden run (the same trial, no fault) once per
(SUT, workload, params, seed) and keeps its baseline.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.checkers import judge
from harness.env.local import LocalEnvironment, WorkerProcess
from harness.faults import Fault, FaultTarget, get_fault
from harness.figures import compute_figures
from harness.history import (
    EventKind,
    GoldenBaseline,
    HarnessEvent,
    History,
    JSONValue,
    Outcome,
)
from harness.sut import SutClient, SystemUnderTest, get_sut
from harness.trial import TrialResult, TrialSpec
from harness.triggers import Fired, TriggerContext, TriggerNeverFired

Progress = Callable[[str], None]


@dataclass
class _Events:
    """The harness's own part of the history, appended as things happen."""

    items: list[HarnessEvent] = field(default_factory=list)

    def add(self, kind: EventKind, **fields: JSONValue) -> int:
        now = time.time_ns()
        self.items.append(HarnessEvent(at_ns=now, kind=kind, **fields))
        return now


@dataclass
class _Trial:
    """Mutable state of one running trial."""

    spec: TrialSpec
    env: LocalEnvironment
    sut: SystemUnderTest
    db_url: str
    workflow_id: str
    deadline: float
    events: _Events = field(default_factory=_Events)
    workers: list[WorkerProcess] = field(default_factory=list)

    def remaining(self) -> float:
        return max(0.1, self.deadline - time.monotonic())

    def start_worker(self, executor_id: str, *, wait_ready: bool = True) -> WorkerProcess:
        argv = self.sut.worker_argv(
            workload=self.spec.workload,
            postgres_url=self.db_url,
            provider_url=self.env.provider_url,
            executor_id=executor_id,
            options=self.spec.options,
        )
        name = f"{executor_id}.{len(self.workers)}"
        worker = self.env.start_worker(name, executor_id, argv, wait_ready=False)
        self.workers.append(worker)
        self.events.add("worker_started", worker=name, executor=executor_id, pid=worker.pid)
        if wait_ready:
            worker.wait_ready()
        return worker

    def worker_for(self, executor: str | None, client: SutClient) -> WorkerProcess:
        """The live worker running the workflow: the triggering call's executor, else the owner."""
        if executor is None:
            owners = [w.executor for w in client.workflows([self.workflow_id])]
            executor = owners[0] if owners else None
        live = [w for w in self.workers if w.alive]
        for worker in reversed(live):
            if worker.executor_id == executor:
                return worker
        if not live:
            raise RuntimeError(f"no live worker to fault in trial {self.spec.trial_id}")
        return live[0]

    def stop_workers(self) -> None:
        for worker in self.workers:
            was_alive = worker.alive
            code = worker.stop()
            if was_alive:
                self.events.add("worker_exited", worker=worker.name,
                                executor=worker.executor_id, pid=worker.pid, exit_code=code,
                                oom_killed=False, detail={"stopped_by": "teardown"})  # fmt: skip


def _executor_ids(spec: TrialSpec) -> tuple[str, str]:
    short = uuid.uuid4().hex[:6]
    return f"w1-{short}", f"w2-{short}"


def _inject(trial: _Trial, fault: Fault, fired: Fired, ctx: TriggerContext,
            client: SutClient) -> None:
    victim = trial.worker_for(fired.executor, client)
    target = FaultTarget(trial.env, victim)
    try:
        fault.inject(target)
        trial.events.add("fault_fired", worker=victim.name, executor=victim.executor_id,
                         pid=victim.pid, detail={"fault": fault.name})  # fmt: skip
        if trial.spec.trigger is not None:
            trial.spec.trigger.after_inject(ctx)
    finally:
        fault.heal(target)
        trial.events.add("fault_healed", worker=victim.name, detail={"fault": fault.name})
    if fault.kills_worker and not victim.alive:
        trial.events.add("worker_exited", worker=victim.name, executor=victim.executor_id,
                         pid=victim.pid, exit_code=victim.poll(), oom_killed=False)  # fmt: skip
        _recover(trial, victim)


def _recover(trial: _Trial, victim: WorkerProcess) -> None:
    recovery = trial.spec.recovery
    if recovery.policy == "standby":
        return
    if recovery.policy == "delayed":
        time.sleep(min(recovery.delay_s, trial.remaining()))
    trial.start_worker(victim.executor_id)


def _drive(trial: _Trial, client: SutClient) -> list[Outcome]:
    spec = trial.spec
    primary, standby = _executor_ids(spec)
    started = [trial.start_worker(primary, wait_ready=False)]
    if spec.recovery.policy == "standby" and spec.fault is not None:
        started.append(trial.start_worker(standby, wait_ready=False))
    for worker in started:  # started together, so a standby costs no extra start-up time
        worker.wait_ready()
    ctx = TriggerContext(trial.env.provider_client(), client, trial.workflow_id)
    try:
        if spec.trigger is not None:
            spec.trigger.arm(ctx)
        client.start(spec.workload, trial.workflow_id, spec.params)
        trial.events.add("workflow_started", detail={"workflow_id": trial.workflow_id})
        if spec.fault is not None and spec.trigger is not None:
            fired = spec.trigger.wait(ctx, trial.remaining())
            trial.events.add("trigger_fired", executor=fired.executor, detail=fired.detail)
            _inject(trial, get_fault(spec.fault), fired, ctx, client)
        outcome = client.wait(trial.workflow_id, trial.remaining())
        again = client.wait(trial.workflow_id, 5.0)
        return [outcome, Outcome(again.workflow_id, "handle-2", again.status, again.output,
                                 again.observed_ns)]  # fmt: skip
    except (TriggerNeverFired, TimeoutError) as exc:
        trial.events.add("trial_timeout", detail={"error": str(exc)})
        return []
    finally:
        if spec.trigger is not None:
            spec.trigger.disarm(ctx)


def _collect(trial: _Trial, client: SutClient, outcomes: list[Outcome],
             golden: GoldenBaseline | None, started_ns: int) -> History:
    workflows = client.workflows([trial.workflow_id])
    ids = [w.workflow_id for w in workflows] or [trial.workflow_id]
    provider = trial.env.provider_client()
    ledger = [e for wid in ids for e in provider.ledger(wid)]
    effects = [e for wid in ids for e in provider.effects(wid)]
    steps = client.step_records(ids) if trial.sut.checkpointing else []
    trial.stop_workers()
    ended_ns = trial.events.add("trial_ended")
    return History(
        trial_id=trial.spec.trial_id,
        workflow_ids=(trial.workflow_id,),
        checkpointing=trial.sut.checkpointing,
        ledger=tuple(sorted(ledger, key=lambda e: e.received_ns)),
        steps=tuple(sorted(steps, key=lambda s: s.recorded_ns)),
        workflows=tuple(workflows),
        outcomes=tuple(outcomes),
        effects=tuple(effects),
        events=tuple(trial.events.items),
        golden=golden,
        terminate_bound_s=trial.spec.terminate_bound_s,
        started_ns=started_ns,
        ended_ns=ended_ns,
    )


def run_trial(env: LocalEnvironment, spec: TrialSpec,
              golden: GoldenBaseline | None = None) -> TrialResult:
    """Run ``spec`` in ``env``; never leaves a worker running, also on error or timeout."""
    sut = get_sut(spec.sut)
    started_ns, t0 = time.time_ns(), time.monotonic()
    db_url = env.create_database(spec.trial_id)
    workflow_id = f"{spec.trial_id}-{uuid.uuid4().hex[:8]}"
    trial = _Trial(spec, env, sut, db_url, workflow_id, deadline=t0 + spec.timeout_s)
    trial.events.add("trial_started", detail={"trial_id": spec.trial_id})
    with sut.connect(db_url) as client:
        try:
            outcomes = _drive(trial, client)
            history = _collect(trial, client, outcomes, golden, started_ns)
        finally:
            trial.stop_workers()
    judgement = judge(history, sut.promises)
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
        promised=frozenset(sut.promises),
    )


def golden_baseline(result: TrialResult) -> GoldenBaseline:
    """The baseline a golden run gives the faulted trials of the same key."""
    roots = [w for w in result.history.workflows if w.workflow_id in result.history.workflow_ids]
    if result.history.timed_out or not roots or roots[0].status != "SUCCESS":
        status = roots[0].status if roots else "not found"
        raise RuntimeError(
            f"golden run {result.spec.trial_id} did not complete (workflow {status}, "
            f"timed out: {result.history.timed_out}); see the worker logs in the environment"
        )
    step_tokens: dict[int, int] = {}
    for entry in result.history.trial_ledger():
        if entry.step is not None:
            step_tokens[entry.step] = step_tokens.get(entry.step, 0) + entry.tokens
    fig = result.figures
    return GoldenBaseline(
        tokens_billed=fig.tokens_billed,
        calls=fig.calls,
        cost_usd=fig.cost_usd,
        duration_s=fig.duration_s or 0.0,
        step_tokens=step_tokens,
    )


class GoldenCache:
    """Golden runs, once per (SUT, workload, params, seed); safe to share between threads."""

    def __init__(self, env: LocalEnvironment) -> None:
        self._env = env
        self._lock = threading.Lock()
        self._baselines: dict[tuple[str, str, str, int], GoldenBaseline] = {}
        self.results: list[TrialResult] = []

    def baseline(self, spec: TrialSpec) -> GoldenBaseline:
        with self._lock:
            if spec.golden_key not in self._baselines:
                result = run_trial(self._env, spec.golden())
                self.results.append(result)
                self._baselines[spec.golden_key] = golden_baseline(result)
            return self._baselines[spec.golden_key]
