"""Session liveness: a worker is alive while its Postgres session holds its executor lock.

Each worker holds, on a dedicated connection and for its whole life, the session-level advisory
lock ``(hashtext('reference_runtime:<schema>'), hashtext(<executor id>))``. Postgres releases a
session's advisory locks the moment the session ends, and a session ends as soon as the server
sees its connection close: when the process dies (SIGKILL, OOM kill, container kill), its kernel
closes the socket. The claim query (``_store``) therefore treats a workflow whose owner holds no
lock as claimable at once, without waiting out the lease: see :data:`LIVE_EXECUTORS`.

Detection is an accelerator, never a safety mechanism. Every write is still fenced by the
workflow's epoch, and the lease still expires for what a session cannot tell:
- a paused worker (SIGSTOP) keeps its session: its lock stays, the lease expires, the epoch fences
  its late writes;
- a partitioned or half-open link may keep the server's side of the session open (the lock stays,
  the lease decides) or close it (the lock goes, a live worker claims at once): either way the
  cut-off worker's late writes carry an old epoch and fail;
- a worker whose lock session dropped while its process lives (a network blip, an administrator's
  ``pg_terminate_backend``) may see its workflows taken over; its late writes fail on the epoch.
  It stops claiming until it holds its lock again (a workflow it claimed while lockless would look
  dead to every other worker), then re-acquires it and goes on.

Lifecycle of :class:`SessionLock`:
1. ``start()`` connects and tries the lock once (never blocks on it), then starts a monitor thread;
2. the monitor waits on the connection's socket (a closed session makes it readable at once) and
   probes it every ``probe_s``; on loss it reconnects with backoff (each timed-out attempt given
   twice the time of the last, as in ``_db``: a slow link still lets it back) and tries the lock
   again; while another session holds the key (an earlier process of this executor id that has
   not gone yet, e.g. a paused or partitioned one) it retries every ``probe_s``;
3. ``stop()`` closes the connection, releasing the lock. Idempotent.

Trust: a worker relies on other executors' missing locks (:attr:`SessionLock.trusts_absence`)
only while it holds its own lock, and not before :data:`SETTLE_S` after it took it *again*. A lost
session of one's own usually has a cause others share (Postgres restarted or failed over, the
network hiccuped): they are reconnecting too, and their locks are briefly missing although they
live. The first acquisition is trusted at once, so a fresh standby detects deaths from the start.

States: ``held`` (ours), ``elsewhere`` (another session holds the key, so other workers see this
executor as alive: claiming is safe from churn), ``lost`` (no session of ours; do not claim).

Only a lock that was held proves a death by going. Each claim and each lease renewal records
whether the claimer held its own lock (``workflows.owner_locked``), and others take a missing lock
for the owner's death only where it did. A worker that claims in state ``elsewhere`` (restarted
while its predecessor's session lingers) leaves the flag false: when that session ends, the key is
free until this worker's next probe takes it, and a peer that trusted the gap would take over
from a live worker. Its workflows fall back to the lease until a renewal made while ``held`` sets
the flag.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Literal

import psycopg

from reference_runtime._db import Database

log = logging.getLogger("reference_runtime")

LockState = Literal["held", "elsewhere", "lost"]
SETTLE_S = 5.0
"""After re-taking its lock, a worker waits this long before trusting missing locks: more than the
2 s cap of the reconnect backoff every worker's monitor uses, so live peers are back by then."""

LIVE_EXECUTORS = """
SELECT objid FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 2 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid = hashtext(%(ns)s)::oid
"""
"""``objid`` of every executor lock held in the namespace ``%(ns)s``: compare it with
``hashtext(executor_id)::oid``. A hash collision can only make a dead executor look alive (then
the lease decides), never a live one dead."""

_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))"


def lock_namespace(schema: str) -> str:
    """The first half of every executor lock key of ``schema``: schemas never see each other."""
    return f"reference_runtime:{schema}"


class SessionLock:
    """The executor lock of one worker, held on its own connection (see module doc)."""

    def __init__(
        self,
        db: Database,
        schema: str,
        executor_id: str,
        *,
        probe_s: float,
        settle_s: float = SETTLE_S,
        on_change: Callable[[LockState], None] = lambda state: None,
    ) -> None:
        self._db = db
        self._key = (lock_namespace(schema), executor_id)
        self._probe_s = probe_s
        self._settle_s = settle_s
        self._trust_at = 0.0
        self._ever_held = False
        self._on_change = on_change
        self._state: LockState = "lost"
        self._conn: psycopg.Connection | None = None
        self._stop = threading.Event()
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._connect_s = db.connect_timeout_s
        """Time for the next connection attempt: grows while attempts time out (``_db``)."""

    @property
    def state(self) -> LockState:
        return self._state

    @property
    def may_claim(self) -> bool:
        """False while no session holds this executor's key: a claim would look dead at once."""
        return self._state != "lost"

    @property
    def held(self) -> bool:
        """True while this session holds the key: claims and renewals record it, and only an
        owner that held its key may be taken for dead when the key goes (module doc)."""
        return self._state == "held"

    @property
    def trusts_absence(self) -> bool:
        """True when another executor's missing lock may be taken for its death (module doc)."""
        return self._state == "held" and time.monotonic() >= self._trust_at

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Try the lock once, then keep it (or keep trying) on a monitor thread. Idempotent."""
        if self._thread is not None:
            return
        self._wake_r, self._wake_w = os.pipe()
        self._attempt()
        self._thread = threading.Thread(
            target=self._monitor, name="reference_runtime-liveness", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the lock's session, which releases the lock. Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=max(2.0, self._probe_s * 2))
        self._drop()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # -- the monitor -----------------------------------------------------------------------------
    def _monitor(self) -> None:
        while not self._stop.is_set():
            conn = self._conn
            if conn is None:
                delay = min(2.0, self._probe_s * 2 ** min(self._failures, 5))
                if self._wait([], delay):
                    return
                self._attempt()
                continue
            try:
                fd = conn.fileno()
            except psycopg.Error:
                self._lose("its connection is closed")
                continue
            if self._wait([fd], self._probe_s):
                return
            self._probe(conn)

    def _wait(self, fds: list[int], timeout: float) -> bool:
        """Wait until ``fds`` are readable (or closed) or ``timeout``; True when stopping."""
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        for fd in (*fds, self._wake_r):
            poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        try:
            poller.poll(timeout * 1000)
        except OSError:
            self._stop.wait(timeout)
        return self._stop.is_set()

    def _probe(self, conn: psycopg.Connection) -> None:
        try:
            if self._state == "elsewhere":
                self._try_lock(conn)
            else:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            self._lose(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))

    def _attempt(self) -> None:
        try:
            conn = self._db.connect(self._connect_s)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.errors.ConnectionTimeout):
                self._connect_s = self._db.grown_timeout(self._connect_s)
            self._failures += 1
            if self._failures == 1:
                log.warning("executor lock: cannot connect (%s); retrying", type(exc).__name__)
            return
        self._conn = conn
        self._connect_s = self._db.connect_timeout_s
        try:
            self._try_lock(conn)
        except psycopg.Error as exc:
            self._lose(type(exc).__name__)

    def _try_lock(self, conn: psycopg.Connection) -> None:
        row = conn.execute(_TRY_LOCK, self._key).fetchone()
        got = bool(row and row[0])
        self._failures = 0
        if got:
            self._set("held")
            return
        if self._state != "elsewhere":
            log.warning(
                "executor lock of %r is held by another session (an earlier process of this "
                "executor id that has not gone yet?): its workflows fall back to the lease until "
                "it is released; retrying every %.1fs",
                self._key[1],
                self._probe_s,
            )
        self._set("elsewhere")

    def _lose(self, reason: str) -> None:
        self._drop()
        self._failures += 1
        if self._state != "lost":
            log.warning(
                "executor lock of %r lost (%s): other workers may take its workflows over (the "
                "epoch fences this worker's late writes); not claiming until it is back",
                self._key[1],
                reason,
            )
        self._set("lost")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.close()

    def _set(self, state: LockState) -> None:
        changed, self._state = state != self._state, state
        if not changed:
            return
        if state == "held":
            if self._ever_held:
                self._trust_at = time.monotonic() + self._settle_s
            self._ever_held = True
            log.info("executor lock of %r held", self._key[1])
        self._on_change(state)
