"""Injecting a trial's faults: the first when its trigger fired, then each follow-up on its anchor.

Steps of :func:`inject` for fault ``index`` (0: ``TrialSpec.fault``; then ``TrialSpec.then``):

1. the victim: the worker that made the triggering call, else the workflow's owner (for a
   ``claimed`` anchor, the owner that claimed);
2. ``fault_fired`` (detail: fault name, index), inject, release the trigger's held call;
3. a follow-up anchored on ``injected``, or one that ``overlaps``, waits for its anchor (as in
   5) and runs now, while this fault is still in place;
4. heal (always, in ``finally``), ``fault_healed``; the trial's deadline moves to at least
   ``terminate_bound_s`` after the heal;
5. a follow-up anchored on ``healed``, ``claimed`` or ``statement`` waits for its anchor
   (:func:`harness.followups.wait_for_claim`; for ``statement``, a matching statement in the
   trial's statement log after the fault fired, :mod:`harness.env.statements`) and its delay,
   then runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import psycopg

from harness.env import Worker
from harness.env.statements import Statement, StatementWatch, sent_by
from harness.faults import FaultTarget
from harness.followups import wait_for_claim
from harness.history import JSONValue, LedgerEntry, StepRecord, WorkflowRecord
from harness.sut import SutClient
from harness.triggers import TriggerNeverFired

if TYPE_CHECKING:
    from harness.runner import _Trial

__all__ = ["fault_target", "inject"]

LIVE_WORKER_POLL_S = 0.05
"""How often a follow-up looks for a live worker to fault (a kill's replacement starting)."""


def fault_target(trial: _Trial, victim: Worker, client: SutClient,
                 release: Callable[[], None]) -> FaultTarget:  # fmt: skip
    """What a fault acts on: ``victim``, its links, and views of the trial's state."""
    def wait_outcome(timeout_s: float) -> bool:
        try:
            client.wait(trial.workflow_id, min(timeout_s, trial.remaining()))
        except TimeoutError:
            return False
        return True

    def workers() -> list[Worker]:
        with trial.lock:
            return list(trial.workers)

    def step_records() -> list[StepRecord]:
        if not trial.sut.checkpointing:
            return []
        ids = [w.workflow_id for w in client.workflows([trial.workflow_id])]
        return client.step_records(ids or [trial.workflow_id])

    links, peers = trial.links, None  # with own_links: the victim's pair, and the others'
    if trial.standby_links is not None:
        links = trial.worker_links.get(victim.name, trial.links)
        peers = trial.standby_links if links is trial.links else trial.links
    return FaultTarget(trial.env, victim, trial.workflow_id, links, trial.trial_dir,
                       release, wait_outcome, step_records=step_records,
                       workflow_records=lambda: client.workflows([trial.workflow_id]),
                       workers=workers,
                       durable_store=trial.services.durable_store(trial.env),
                       peer_links=peers,
                       announces_epochs=trial.sut.describe().effect_fencing.fenced,
                       lock_waits=lambda: _lock_waits(trial.db_url),
                       claim_polls=None if trial.statements is None or trial.claim_poll is None
                       else StatementWatch(trial.statements, trial.claim_poll))  # fmt: skip


def _root_record(trial: _Trial, client: SutClient) -> WorkflowRecord | None:
    records = [w for w in client.workflows([trial.workflow_id])
               if w.workflow_id == trial.workflow_id]  # fmt: skip
    return records[0] if records else None


def inject(trial: _Trial, index: int, executor: str | None, client: SutClient,
            release: Callable[[], None], detail: Mapping[str, JSONValue] | None = None) -> None:
    """Inject the trial's fault ``index`` (0: ``spec.fault``; then the follow-ups), release the
    trigger, heal; and run the follow-up after it on its anchor (:mod:`harness.followups`)."""
    fault = trial.spec.faults[index]
    victim = trial.worker_for(executor, client)
    target = fault_target(trial, victim, client, release)
    after = trial.spec.then[index] if index < len(trial.spec.then) else None
    record = _root_record(trial, client) if after and after.when == "claimed" else None
    mark = 0
    if after is not None and after.when == "called":  # the requests before the fault fired
        mark = len(trial.env.provider_client().ledger(trial.workflow_id))
    elif after is not None and trial.statements is not None:
        mark = trial.statements.mark()
    try:
        trial.events.add("fault_fired", worker=victim.name, executor=victim.executor_id,
                         pid=victim.pid,
                         detail={"fault": fault.name, "index": index, **(detail or {})})
        if trial.spec.recovery.policy == "rolling":
            # A rolling restart: the new process (same executor id) is up before the old one is
            # told to go, and both poll the same store while the old one drains. Its start is
            # part of the fault: whatever it takes over, it takes from a faulted worker.
            trial.start_worker(victim.executor_id)
        fault.inject(target)
        release()
        if after is not None and after.overlaps:
            _follow(trial, index + 1, client, record.epoch if record is not None else 0, mark)
    finally:
        fault.heal(target)
        trial.events.add("fault_healed", worker=victim.name,
                         detail={"fault": fault.name, "index": index, **target.healed})
        # terminates is judged from the heal (its anchor) for terminate_bound_s: the trial must
        # not end before that, however long the harness took to heal (a Postgres restart on a
        # loaded machine took 69 s, leaving the workflow 19 s of its 90 s trial: judged unknown).
        trial.deadline = max(trial.deadline, time.monotonic() + trial.spec.terminate_bound_s)
    if after is not None and not after.overlaps:
        _follow(trial, index + 1, client, record.epoch if record is not None else 0, mark)


def _follow(trial: _Trial, index: int, client: SutClient, past_epoch: int | None,
            mark: int = 0) -> None:
    """Wait for follow-up ``index``'s anchor (``past_epoch``: the epoch when the fault before it
    fired, for ``claimed``; ``mark``: where the statement log ended then, for ``statement``),
    then its delay, then inject it on the workflow's owner."""
    follow_up = trial.spec.then[index - 1]
    executor, detail = None, {}
    if follow_up.when == "statement":
        assert trial.statements is not None and follow_up.pattern is not None
        try:
            statement = trial.statements.wait(follow_up.pattern, mark,
                                              trial.deadline - time.monotonic())
        except TimeoutError as exc:
            raise TriggerNeverFired(f"follow-up fault {index} ({follow_up.label}): {exc}") from exc
        detail = {"anchor": "statement", "backend_pid": statement.pid,
                  "statement": " ".join(statement.text.split())[:200],
                  "application": statement.application}
        if follow_up.on_sender:
            executor = _sender(trial, statement, f"follow-up fault {index} ({follow_up.label})")
    if follow_up.when == "called":
        entry = _next_call(trial, mark, f"follow-up fault {index} ({follow_up.label})")
        executor = entry.executor
        detail = {"anchor": "called", "owner": entry.executor, "step": entry.step,
                  "attempt": entry.attempt, "request_id": entry.request_id}
    if follow_up.when == "claimed":
        claim = wait_for_claim(lambda: _root_record(trial, client), past_epoch or 0,
                               trial.deadline - time.monotonic())  # fmt: skip
        executor = claim.executor
        detail = {"anchor": "claimed", "claimed_epoch": claim.epoch, "owner": claim.executor}
    if follow_up.delay_s > trial.remaining():
        raise TriggerNeverFired(f"follow-up fault {index} ({follow_up.label}) would fire "
                                f"{follow_up.delay_s:g}s after its anchor, past the trial's end")
    time.sleep(follow_up.delay_s)
    _await_live_worker(trial, f"follow-up fault {index} ({follow_up.label})")
    inject(trial, index, executor, client, lambda: None, detail)


def _next_call(trial: _Trial, mark: int, what: str) -> LedgerEntry:
    """The workflow's first LLM request past the first ``mark`` the provider received."""
    provider = trial.env.provider_client()
    while True:
        ledger = provider.ledger(trial.workflow_id)
        if len(ledger) > mark:
            entry = sorted(ledger, key=lambda e: e.received_ns)[mark]
            if entry.executor is None:
                raise TriggerNeverFired(f"{what}: the request {entry.request_id} names no "
                                        "executor (X-Durabench-Executor): no worker to fault")
            return entry
        if time.monotonic() >= trial.deadline:
            raise TriggerNeverFired(f"{what}: the workflow made no LLM request after the fault "
                                    "before the trial's end")
        time.sleep(LIVE_WORKER_POLL_S)


def _sender(trial: _Trial, statement: Statement, what: str) -> str:
    """The executor of the trial's worker whose session sent ``statement``."""
    with trial.lock:
        executors = [w.executor_id for w in trial.workers]
    executor = sent_by(statement, executors)
    if executor is None:
        raise TriggerNeverFired(
            f"{what}: no worker of the trial sent the statement (its session is named "
            f"{statement.application!r}; workers: {', '.join(sorted(set(executors)))}): a SUT "
            "that names its Postgres sessions itself must put its executor id in the name")
    return executor


def _await_live_worker(trial: _Trial, what: str) -> None:
    """Wait for a worker to fault: right after a kill the supervisor may not have started the
    replacement yet. Raises TriggerNeverFired when none is alive before the trial's deadline."""
    while True:
        with trial.lock:
            if any(w.alive for w in trial.workers):
                return
        if time.monotonic() >= trial.deadline:
            raise TriggerNeverFired(f"{what}: no live worker to fault before the trial's end")
        time.sleep(LIVE_WORKER_POLL_S)


def _lock_waits(db_url: str) -> int:
    """Sessions of ``db_url``'s database that wait for a lock now (``pg_stat_activity``)."""
    with psycopg.connect(db_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0
