"""The worker loop: claim PENDING workflows, run each on a thread, keep their leases alive.

Lifecycle of :class:`Worker`:
1. ``run()`` takes this executor's session lock (``_liveness``: it announces the worker alive for
   as long as its session lasts) and starts the heartbeat thread, then loops: claim up to the free
   concurrency slots (first round: this executor's own PENDING workflows, i.e. recovery after a
   restart; every round: unowned ones, lease-expired ones and those of executors whose session
   ended, ``FOR UPDATE SKIP LOCKED``), start an execution thread per claim, then sleep ``poll_s``
   or until woken (a slot freed, a workflow enqueued here). While no session holds this
   executor's lock it claims nothing: other workers would see such a claim as a dead worker's;
2. an execution waiting on a child frees its slot while it waits, so a worker never deadlocks
   on parents waiting for children it has no slot to run;
3. ``drain(grace_s)`` stops claiming, lets executions reach their next step boundary within the
   grace, then releases the leases still held (owner NULL, lease expired) so another worker
   claims them at once, and last closes the session lock (earlier, another worker would take
   over an execution that is still finishing its step).

The worker's own statements (claims, releases) run on the runtime's second pool and its
heartbeats on a third (``_runtime``): a poll or heartbeat held up by a slow link never holds the
connection an execution's step write needs, and the heartbeat never has to open a connection
because the claim loop holds the pooled one. After a link outage both threads therefore wake on
their own connection's answer and go on by their own timers, not by who reconnects first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reference_runtime._errors import ReferenceRuntimeError
from reference_runtime._liveness import SessionLock
from reference_runtime._store import Announce, Store
from reference_runtime._types import Claim

log = logging.getLogger("reference_runtime")


@dataclass(frozen=True)
class WorkerOptions:
    executor_id: str
    lease_s: float
    heartbeat_s: float
    poll_s: float
    max_recovery_attempts: int
    max_concurrency: int


class Worker:
    """Claims and runs workflows for one executor id; ``launch`` runs one claim to its end."""

    def __init__(
        self,
        store: Store,
        options: WorkerOptions,
        names: Callable[[], list[str]],
        launch: Callable[[Claim], None],
        liveness: SessionLock,
        lease_store: Store | None = None,
        announce: Announce | None = None,
    ) -> None:
        self._store = store
        self._announce = announce
        """Told each claim's new epochs before the claim commits (``Store.claim``)."""
        self._lease_store = store if lease_store is None else lease_store
        """Where heartbeats go (the runtime gives them a connection of their own)."""
        self._liveness = liveness
        self._opts = options
        self._names = names
        self._launch = launch
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._threads: set[threading.Thread] = set()
        self._active = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._draining = False
        self._heartbeat: threading.Thread | None = None

    @property
    def draining(self) -> bool:
        return self._draining

    def wake(self) -> None:
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Block, claiming and running workflows, until ``stop`` is set or :meth:`drain`."""
        self._liveness.start()
        self._ensure_heartbeat()
        errors = 0
        while not self._stop.is_set() and not (stop is not None and stop.is_set()):
            self._wake.clear()
            try:
                claimed, free = self._poll_once()
                errors = 0
            except ReferenceRuntimeError as exc:
                errors += 1
                log.error("worker %s could not claim: %s", self._opts.executor_id, exc)
                self._wake.wait(min(5.0, self._opts.poll_s * 2**errors))
                continue
            if claimed and claimed == free:
                continue  # there may be more waiting
            if stop is not None and stop.wait(0):
                break
            self._wake.wait(self._opts.poll_s)

    def _poll_once(self) -> tuple[int, int]:
        with self._lock:
            free = self._opts.max_concurrency - self._active
            held = list(self._held)
        if free <= 0 or not self._liveness.may_claim:
            return 0, 0
        claims = self._store.claim(
            self._opts.executor_id,
            names=self._names(),
            held=held,
            limit=free,
            lease_s=self._opts.lease_s,
            max_recovery_attempts=self._opts.max_recovery_attempts,
            # asked at each attempt: a claim retried across an outage must not use the trust
            # it had before the outage (it would skip the settling after re-taking the lock)
            detect=lambda: self._liveness.trusts_absence,
            locked=lambda: self._liveness.held,
            announce=self._announce,
        )
        for claim in claims:
            if claim.status == "DEAD_LETTER":
                log.error(
                    "workflow %s dead-lettered after %d claims", claim.workflow_id, claim.epoch
                )
                continue
            self._start(claim)
        return len(claims), free

    def _start(self, claim: Claim) -> None:
        thread = threading.Thread(
            target=self._run_claim, args=(claim,), name=f"wf-{claim.workflow_id}", daemon=True
        )
        with self._lock:
            self._held[claim.workflow_id] = claim.epoch
            self._threads.add(thread)
            self._active += 1
        log.info(
            "worker %s claimed %s (epoch %d, %s%s)",
            self._opts.executor_id,
            claim.workflow_id,
            claim.epoch,
            claim.reason,
            f" from {claim.previous_owner}" if claim.previous_owner else "",
        )
        thread.start()

    def _run_claim(self, claim: Claim) -> None:
        try:
            self._launch(claim)
        except BaseException:
            log.exception("execution of %s crashed", claim.workflow_id)
        finally:
            with self._lock:
                if self._held.get(claim.workflow_id) == claim.epoch:
                    del self._held[claim.workflow_id]
                self._threads.discard(threading.current_thread())
                self._active -= 1
            self._wake.set()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Free the caller's slot while it blocks on another workflow."""
        with self._lock:
            self._active -= 1
        self._wake.set()
        try:
            yield
        finally:
            with self._lock:
                self._active += 1

    # -- leases --------------------------------------------------------------------------------
    def _ensure_heartbeat(self) -> None:
        with self._lock:
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(
                    target=self._beat, name="reference_runtime-heartbeat", daemon=True
                )
                self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._opts.heartbeat_s):
            with self._lock:
                held = list(self._held.items())
            if not held:
                continue
            try:
                renewed = self._lease_store.heartbeat(
                    held, self._opts.lease_s, locked=lambda: self._liveness.held
                )
            except ReferenceRuntimeError as exc:
                log.error("heartbeat failed: %s", exc)
                continue
            lost = {wid for wid, _ in held} - renewed
            if lost:
                log.info("leases no longer ours (finished, fenced or cancelled): %s", sorted(lost))

    def drain(self, grace_s: float) -> None:
        """Stop claiming, give executions ``grace_s`` to reach a step boundary, release leases."""
        self._draining = True
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + grace_s
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads or time.monotonic() >= deadline:
                break
            threads[0].join(timeout=max(0.0, min(0.05, deadline - time.monotonic())))
        with self._lock:
            held = list(self._held.items())
            self._held.clear()
        if held:
            try:
                released = self._store.release(held)
                log.info("released leases of %s", sorted(released))
            except ReferenceRuntimeError as exc:
                log.error("could not release leases %s: %s", [w for w, _ in held], exc)
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=1.0)
        self._liveness.stop()
