"""Connections to Postgres: a small pool of autocommit connections with bounded retries.

Contracts:
- every connection has ``connect_timeout`` and TCP keepalives (a dead link is noticed) and
  ``tcp_user_timeout`` (unacknowledged sends fail instead of hanging);
- a query that runs longer than ``op_timeout_s`` has its socket shut down by a watchdog, which
  turns a silently hung link (e.g. a proxy that swallows traffic) into a connection error;
- :meth:`Database.run` retries an operation on connection errors (Postgres restarting, link
  cut) with exponential backoff and jitter, on a fresh connection, until ``retry_s`` has passed;
  then it raises :class:`UnreachableDatabaseError` naming host and port (never the password).
  The operation must therefore be idempotent: every write in ``_store`` is;
- a connection attempt that times out is retried with twice the time (up to
  :data:`CONNECT_GROWTH` times ``connect_timeout_s``): opening a session takes four round trips
  (SSL refusal, startup, two SCRAM exchanges), so over a slow but working link (1.5 s per answer)
  every attempt bounded by the same 5 s would time out, and the operation with it, forever;
- a pool serves one kind of traffic: the runtime keeps its worker's own traffic (claims,
  heartbeats, the executor lock) on a second :class:`Database`, so that an execution's step write
  never waits for, or has to open, a connection because polls and heartbeats hold the pooled ones
  (``application_name`` tells the two apart in ``pg_stat_activity``).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from reference_runtime._errors import RuntimeClosedError, UnreachableDatabaseError

T = TypeVar("T")
log = logging.getLogger("reference_runtime")

# SQLSTATE classes that mean "the connection or server went away; try again elsewhere/later".
_TRANSIENT_PREFIXES = ("08", "57P", "40001", "40P01", "53300")
CONNECT_GROWTH = 8
"""A timed-out connection attempt is retried with twice its time, up to this many times the
configured ``connect_timeout_s`` (see module doc)."""


def _is_transient(exc: BaseException, conn: psycopg.Connection | None) -> bool:
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    if conn is not None and (conn.closed or conn.broken):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_TRANSIENT_PREFIXES)


class Database:
    """A pool of autocommit connections to one DSN, used by many threads."""

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout_s: float = 5.0,
        retry_s: float = 60.0,
        op_timeout_s: float = 30.0,
        application_name: str = "reference_runtime",
        idle_in_transaction_s: float | None = None,
    ) -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.idle_in_transaction_s = idle_in_transaction_s
        self.connect_timeout_s = connect_timeout_s
        self.retry_s = retry_s
        self.op_timeout_s = op_timeout_s
        params = conninfo_to_dict(dsn)
        self.host = str(params.get("host") or "localhost")
        self.port = str(params.get("port") or "5432")
        self._password = str(params.get("password") or "")
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._inflight: dict[int, tuple[psycopg.Connection, float]] = {}
        self._closed = False
        self._watchdog: threading.Thread | None = None

    # -- connections ---------------------------------------------------------------------------
    def connect(self, timeout_s: float | None = None) -> psycopg.Connection:
        """A new autocommit connection within ``timeout_s`` (default ``connect_timeout_s``); raises
        psycopg errors (:meth:`run` translates them)."""
        timeout = self.connect_timeout_s if timeout_s is None else timeout_s
        return psycopg.connect(
            self.dsn,
            autocommit=True,
            connect_timeout=max(1, round(timeout)),
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=int(self.op_timeout_s * 1000),
            application_name=self.application_name,
            options=self._options(),
        )

    def _options(self) -> str:
        """Server settings of each session (``options``): the idle-in-transaction bound."""
        if self.idle_in_transaction_s is None:
            return ""
        ms = max(1, round(self.idle_in_transaction_s * 1000))
        return f"-c idle_in_transaction_session_timeout={ms}"

    def grown_timeout(self, timeout_s: float) -> float:
        """The time for the next attempt after one of ``timeout_s`` timed out (module doc)."""
        return min(2 * timeout_s, CONNECT_GROWTH * self.connect_timeout_s)

    def _acquire(self, connect_s: float) -> psycopg.Connection:
        with self._lock:
            if self._closed:
                raise psycopg.InterfaceError("the runtime's connection pool is closed")
            if self._idle:
                return self._idle.pop()
        return self.connect(connect_s)

    def _release(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if not self._closed and not conn.closed and not conn.broken:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- operations ----------------------------------------------------------------------------
    def run(self, op: Callable[[psycopg.Connection], T], *, retry_s: float | None = None) -> T:
        """Run ``op`` on a pooled connection, retrying it on connection errors (see module doc)."""
        bound = self.retry_s if retry_s is None else retry_s
        started = time.monotonic()
        attempt = 0
        connect_s = self.connect_timeout_s
        while True:
            conn: psycopg.Connection | None = None
            try:
                conn = self._acquire(connect_s)
                result = self._timed(conn, op)
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.errors.ConnectionTimeout):
                    connect_s = self.grown_timeout(connect_s)
                if not _is_transient(exc, conn):
                    if conn is not None:
                        self._release(conn)
                    raise
                if conn is not None:
                    conn.close()
                waited = time.monotonic() - started
                if self._closed or waited >= bound:
                    raise self._unreachable(exc, waited) from exc
                delay = min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning("database error (%s); retrying in %.2fs", self._scrub(exc), delay)
                time.sleep(min(delay, max(0.0, bound - waited)))
                attempt += 1
                continue
            self._release(conn)
            return result

    def _timed(self, conn: psycopg.Connection, op: Callable[[psycopg.Connection], T]) -> T:
        key = id(conn)
        with self._lock:
            self._inflight[key] = (conn, time.monotonic() + self.op_timeout_s)
            self._ensure_watchdog()
        try:
            return op(conn)
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch, name="reference_runtime-db-watchdog", daemon=True
            )
            self._watchdog.start()

    def _watch(self) -> None:
        while not self._closed:
            time.sleep(min(1.0, self.op_timeout_s / 4))
            now = time.monotonic()
            with self._lock:
                overdue = [c for c, deadline in self._inflight.values() if deadline < now]
            for conn in overdue:
                log.warning("a query exceeded %.1fs; dropping its connection", self.op_timeout_s)
                _shutdown_socket(conn)

    def _scrub(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return text.replace(self._password, "***") if self._password else text

    def _unreachable(self, exc: BaseException, waited: float) -> UnreachableDatabaseError:
        if self._closed:
            return RuntimeClosedError(self.host, self.port)
        return UnreachableDatabaseError(self.host, self.port, self._scrub(exc), waited)


def _shutdown_socket(conn: psycopg.Connection) -> None:
    try:
        dup = os.dup(conn.fileno())
    except (OSError, psycopg.Error):
        return
    try:
        with socket.socket(fileno=dup) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
