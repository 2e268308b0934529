"""The nemesis: fires a :class:`~harness.soak._plan.SoakPlan`'s faults at their planned times,
each in its own thread (so they overlap as planned), and heals each one in ``finally``.

Every fault is recorded as a ``fault_fired`` / ``fault_healed`` pair of harness events whose
``detail`` carries ``fault`` (the kind) and ``fault_id`` (its place in the schedule), so the
checkers can tell the faults of one soak apart. A fault that could not act (its worker slot had
no live worker, the fault raised) is still recorded, with ``error`` in its heal event's detail:
nothing is dropped silently. A fault that could not land in its window (``FaultNotLanded``: an oom
armed on a worker that reached no tool) is undone and recorded with ``not_landed`` in its heal
event: a fact about the schedule, not an error; the workflows are judged as they ran. Two faults
on the same worker slot, or of the same shared kind, never act at once: the later one waits for
the earlier one's heal.

A worker fault's planned recovery is handed to the soak's supervisor before the fault lands
(:attr:`Nemesis.recovery_of`, by the victim's pid), and recorded in its ``fault_fired`` detail;
for ``rolling`` the nemesis itself starts the replacement (same executor id) and waits until it
is ready before the fault lands, as a rolling deploy does.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from harness.faults import (
    DbCrashFault,
    DegradeFault,
    EvictFault,
    Fault,
    FaultNotLanded,
    FaultTarget,
    KillFault,
    OomFault,
    PartitionFault,
    PauseFault,
    ProviderErrorsFault,
)
from harness.history import JSONValue, LedgerEntry
from harness.runner import _Trial
from harness.soak._plan import COMPOUNDS, WORKER_KINDS, PlannedFault, SoakPlan

WORKER_WAIT_S = 60.0
"""How long a worker fault waits for its slot's (restarted) worker to be alive."""
ANCHOR_WAIT_S = 20.0
"""How long an event-anchored partner waits for its event before it fires on its planned time."""
ANCHOR_POLL_S = 0.1
RUNNING_WINDOW_S = 10.0
"""A leader's victim was running the workflows it made an LLM request for this recently."""
SOAK_OOM = OomFault(per_worker=True, wait_s=60.0)
"""The soak's oom: each worker has its own arming switch (they share one trial directory), and
the targeted worker may be between tool calls for a while on a loaded machine."""


def _anchored(planned: PlannedFault) -> bool:
    """Whether ``planned`` is a compound's partner that fires on an event, not a time."""
    return bool(planned.compound) and COMPOUNDS[planned.compound].anchor != "time"


def executor_of(slot: int, generation: int = 0) -> str:
    """The executor id of a worker slot: ``soak-w1``, then ``soak-w1-g2`` for the second fresh
    identity a standby or supervised recovery gave the slot."""
    return f"soak-w{slot}" if generation == 0 else f"soak-w{slot}-g{generation}"


def slot_of(executor: str) -> int | None:
    """The slot an executor id of :func:`executor_of` belongs to (None: not a soak worker's)."""
    match = re.fullmatch(r"soak-w(\d+)(?:-g\d+)?", executor)
    return int(match.group(1)) if match else None


def build_fault(planned: PlannedFault) -> Fault:
    """The harness fault a planned fault stands for, with its parameters."""
    p: dict[str, Any] = planned.params
    if planned.kind == "kill":
        return KillFault()
    if planned.kind == "evict":
        return EvictFault(grace_s=float(p["grace_s"]))
    if planned.kind == "pause":
        # Timed: the nemesis pins no order (no provider holds); the checkers judge what happened.
        return PauseFault(duration_s=float(p["duration_s"]), order="timed")
    if planned.kind == "db_crash":
        return DbCrashFault(down_s=float(p["down_s"]))
    if planned.kind == "partition":
        return PartitionFault(link=str(p["link"]), mode="down", duration_s=float(p["duration_s"]))
    if planned.kind == "degrade":
        return DegradeFault(toxic="latency", link=str(p["link"]), stream="downstream",
                            attributes=(("latency", int(p["latency_ms"])),),
                            duration_s=float(p["duration_s"]))  # fmt: skip
    if planned.kind == "provider_errors":
        return ProviderErrorsFault(status=int(p["status"]), count=int(p["count"]))
    if planned.kind == "oom":
        return SOAK_OOM
    raise ValueError(f"unknown fault kind {planned.kind!r}")


class Nemesis(threading.Thread):
    """Runs the plan's faults against ``trial`` from ``t0`` (``time.monotonic()``)."""

    def __init__(self, plan: SoakPlan, trial: _Trial, t0: float,
                 latest_workflow: Callable[[], str]) -> None:
        super().__init__(name="soak-nemesis", daemon=True)
        self.plan, self.trial, self.t0 = plan, trial, t0
        self.latest_workflow = latest_workflow
        self.errors: list[str] = []
        self.not_landed: list[str] = []
        """Faults that could not land in their window (``FaultNotLanded``), with what they did
        instead: facts about the schedule, reported but not errors."""
        self._threads: list[threading.Thread] = []
        self._halt = threading.Event()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self.recovery_of: dict[int, str] = {}
        """Worker pid -> the recovery its fault planned (the supervisor reads it when the worker
        is gone; a death no fault planned is restarted)."""
        self.handovers_of: dict[int, int] = {}
        """Victim pid -> concurrent hand-overs of its ``supervised`` recovery (when above 1)."""
        self._fired: dict[int, tuple[int, frozenset[str]]] = {}
        """Fault id -> when it fired (ns) and the workflows its victim was running then: what an
        event-anchored partner waits on (:meth:`_await_recovery_call`)."""
        self._fired_cv = threading.Condition()

    def _lock_for(self, planned: PlannedFault) -> threading.Lock | None:
        """One lock per worker slot and per shared kind (per link for a link's faults): a fault
        waits until the previous one on the same thing has healed (a heal can take longer than
        planned on a loaded host). A compound's partner that lands during its leader on the
        same slot takes none: it is meant to overlap it."""
        if planned.compound and COMPOUNDS[planned.compound].during_leader and (
                planned.slot is not None):
            return None
        link = planned.params.get("link")
        key = (f"slot{planned.slot}" if planned.slot is not None
               else f"{planned.kind}:{link}" if link else planned.kind)
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def run(self) -> None:
        # a partner anchored on an event starts waiting for it as its leader fires
        leader_at = {f.fault_id: f.at_s for f in self.plan.faults}
        order = sorted(self.plan.faults, key=lambda f: (
            leader_at[f.joins] if _anchored(f) and f.joins is not None else f.at_s, f.fault_id))
        for planned in order:
            start = (leader_at[planned.joins] if _anchored(planned) and planned.joins is not None
                     else planned.at_s)
            if self._halt.wait(max(0.0, self.t0 + start - time.monotonic())):
                break
            thread = threading.Thread(target=self._fire, args=(planned,),
                                      name=f"fault-{planned.fault_id}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        """Fire no further fault (those running still heal); waits for every heal."""
        self._halt.set()
        self.join()

    def _record_fired(self, planned: PlannedFault, executor: str) -> None:
        """Note when ``planned`` fired and what its victim was running (the leader of an
        anchored partner only: the ledger read is not free)."""
        if not any(_anchored(f) and f.joins == planned.fault_id for f in self.plan.faults):
            return
        now = time.time_ns()
        recent = now - int(RUNNING_WINDOW_S * 1e9)
        running = frozenset(e.workflow_id for e in self.trial.env.provider_client().ledger()
                            if e.executor == executor and e.workflow_id is not None
                            and e.received_ns >= recent)  # fmt: skip
        with self._fired_cv:
            self._fired[planned.fault_id] = (now, running)
            self._fired_cv.notify_all()

    def _await_recovery_call(self, partner: PlannedFault) -> LedgerEntry | None:
        """The first LLM request, after ``partner``'s leader fired, of a workflow the leader's
        victim was running (its recovery re-making or resuming a step), by a live worker; None
        when none comes within :data:`ANCHOR_WAIT_S` (or the leader never fired)."""
        deadline = time.monotonic() + ANCHOR_WAIT_S
        with self._fired_cv:
            while partner.joins not in self._fired and not self._halt.is_set():
                if not self._fired_cv.wait(timeout=max(0.0, deadline - time.monotonic())):
                    return None
        if partner.joins not in self._fired:
            return None
        fired_ns, running = self._fired[partner.joins]
        provider = self.trial.env.provider_client()
        while time.monotonic() < deadline and not self._halt.is_set():
            calls = sorted((e for e in provider.ledger()
                            if e.workflow_id in running and e.received_ns > fired_ns
                            and e.executor is not None), key=lambda e: e.received_ns)
            if calls:
                return calls[0]
            time.sleep(ANCHOR_POLL_S)
        return None

    def _worker_of(self, executor: str | None) -> Any:
        with self.trial.lock:
            live = [w for w in self.trial.workers if w.alive and w.executor_id == executor]
        return live[-1] if live else None

    def _victim(self, planned: PlannedFault) -> Any:
        deadline = time.monotonic() + WORKER_WAIT_S
        while True:
            with self.trial.lock:
                live = [w for w in self.trial.workers if w.alive]
            if planned.slot is None and live:
                return live[0]
            mine = [w for w in live if slot_of(w.executor_id) == (planned.slot or 0)]
            if mine:
                return mine[-1]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def _fire(self, planned: PlannedFault) -> None:
        tag: dict[str, Any] = {"fault": planned.kind, "fault_id": planned.fault_id}
        if planned.compound:
            tag.update(compound=planned.compound, joins=planned.joins)
        victim = None
        if _anchored(planned):  # waits before taking a lock: its leader may need that lock
            call = self._await_recovery_call(planned)
            if call is None:  # no recovery call in time: the partner fires on its planned time
                tag["anchor"] = f"time (no recovery call within {ANCHOR_WAIT_S:g}s)"
                time.sleep(max(0.0, self.t0 + planned.at_s - time.monotonic()))
            else:
                tag.update(anchor="recovery_call", anchor_workflow=call.workflow_id,
                           anchor_executor=call.executor)
                victim = self._worker_of(call.executor) if planned.kind in WORKER_KINDS else None
        lock = self._lock_for(planned)
        with lock if lock is not None else contextlib.nullcontext():
            self._fire_now(planned, tag, victim or self._victim(planned))

    def _fire_now(self, planned: PlannedFault, tag: dict[str, Any], victim: Any) -> None:
        if victim is None:  # its slot's worker is still being replaced: nothing to act on
            reason = (f"fault #{planned.fault_id} {planned.kind} did not land: no live worker in "
                      f"its slot within {WORKER_WAIT_S:.0f}s; not fired")
            self.not_landed.append(reason)
            self.trial.events.add("fault_fired", detail=tag)
            self.trial.events.add("fault_healed", detail={**tag, "not_landed": reason})
            return
        fault = build_fault(planned)
        target = FaultTarget(self.trial.env, victim, self.latest_workflow(), self.trial.links,
                             self.trial.trial_dir)  # fmt: skip
        recovery: dict[str, JSONValue] = (
            {"recovery": planned.recovery} if planned.recovery else {})
        if planned.recovery is not None:
            self.recovery_of[victim.pid] = planned.recovery
        if planned.handovers > 1:
            self.handovers_of[victim.pid] = planned.handovers
            recovery["handovers"] = planned.handovers
        self.trial.events.add("fault_fired", worker=victim.name, executor=victim.executor_id,
                              pid=victim.pid, detail={**tag, **planned.params, **recovery})
        error = not_landed = ""
        try:
            if planned.recovery == "rolling":
                # The replacement (same executor id) is up before the old one is told to go.
                self.trial.start_worker(victim.executor_id, wait_ready=False).wait_ready(
                    timeout_s=WORKER_WAIT_S)
            fault.inject(target)
            self._record_fired(planned, victim.executor_id)  # after it landed: the victim is gone
        except FaultNotLanded as exc:  # a fact about the schedule: recorded, not an error
            not_landed = f"fault #{planned.fault_id} {planned.kind} did not land: {exc}"
        except Exception as exc:  # recorded and reported; the soak goes on
            error = f"fault #{planned.fault_id} {planned.kind} failed: {exc}"
        finally:
            try:
                fault.heal(target)
            except Exception as exc:
                error = error or f"fault #{planned.fault_id} {planned.kind} heal failed: {exc}"
            detail = {**tag, "error": error} if error else dict(tag)
            if not_landed:
                detail["not_landed"] = not_landed
                self.not_landed.append(not_landed)
            self.trial.events.add("fault_healed", worker=victim.name, detail=detail)
            if error:
                self.errors.append(error)
