"""The statement log: which statements a trial database's sessions sent, read from the server log.

A fault anchored on a statement (``FollowUp(when="statement", pattern=...)``, docs/architecture.md)
fires once a statement matching a pattern has reached the SUT's Postgres: "the moment the
replacement first touches the workflow table", for any SUT whose store is Postgres, without
reading its code. The evidence is Postgres's own: ``log_statement = 'all'``, set for the trial's
database only (``ALTER DATABASE ... SET``, before any worker connects, so every session of that
database logs), and a log line prefix that names the database (``%d``). Postgres writes the line
when the statement arrives, before it runs, so the fault lands while the statement, or the
transaction it opens, is under way.

Only the embedded Postgres of the local environment has a server log the harness can read; other
environments have no statement log (a scenario skips with the reason).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import psycopg
from psycopg import sql

__all__ = ["LOG_LINE_PREFIX", "LogsStatements", "Statement", "StatementLog", "StatementWatch",
           "log_statements", "sent_by", "statements_unavailable"]

LOG_LINE_PREFIX = "%m [%p] %q<%d> {%a} "
"""The embedded server's log line prefix: time, backend pid, and (for sessions) the database and
the session's ``application_name`` (each local worker's sessions are named after it: ``PGAPPNAME``
where the SUT sets no name of its own; see :func:`sent_by`)."""

_ENTRY = re.compile(
    r"^\S+ \S+ \S+ \[(\d+)\] <([^>]*)> \{([^}]*)\} LOG:  (?:statement|execute [^:]*): (.*)$")
POLL_S = 0.005


@dataclass(frozen=True)
class Statement:
    """One statement a session of the trial's database sent."""

    pid: int
    """The backend's process id (one per session)."""
    text: str
    seen_ns: int
    """When the harness read it (wall clock); it arrived at most a poll earlier."""
    application: str = ""
    """The session's ``application_name``: which worker sent it (:func:`sent_by`)."""


def sent_by(statement: Statement, executor_ids: Iterable[str]) -> str | None:
    """The executor whose session sent ``statement``: the one whose id its ``application_name``
    names as a whole word (a local worker's sessions carry its name, ``<executor id>.<n>``, or
    the SUT's own name with the executor id in it); None when none does."""
    for executor in sorted(set(executor_ids), key=len, reverse=True):
        if re.search(rf"(?<![\w-]){re.escape(executor)}(?![\w-])", statement.application):
            return executor
    return None


def log_statements(admin_url: str, database: str) -> None:
    """Make every later session of ``database`` log each statement it sends."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET log_statement = 'all'").format(
            sql.Identifier(database)))


class StatementLog:
    """The statements of one database in a server log written with :data:`LOG_LINE_PREFIX`."""

    def __init__(self, log_path: Path, database: str) -> None:
        self.log_path = log_path
        self.database = database

    def mark(self) -> int:
        """Where the log ends now: :meth:`wait` after it sees only statements sent later."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def wait(self, pattern: str, since: int, timeout_s: float) -> Statement:
        """The first statement after ``since`` whose text ``pattern`` matches (``re.search``,
        across its lines); TimeoutError when none arrives within ``timeout_s``."""
        compiled = re.compile(pattern, re.DOTALL)

        deadline = time.monotonic() + timeout_s
        offset, pending, entry = since, b"", None
        while True:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                chunk = log.read()
            offset += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()  # a line not yet ended
            for raw in lines:
                line = raw.decode(errors="replace")
                if entry is not None and line.startswith("\t"):
                    entry = (entry[0], entry[1] + "\n" + line[1:], entry[2])
                    continue
                if entry is not None and compiled.search(entry[1]):
                    return Statement(entry[0], entry[1], time.time_ns(), entry[2])
                entry = None
                match = _ENTRY.match(line)
                if match and match.group(2) == self.database:
                    entry = (int(match.group(1)), match.group(4), match.group(3))
            # A statement's continuation lines may still come; judge it on what it has so far.
            if entry is not None and compiled.search(entry[1]):
                return Statement(entry[0], entry[1], time.time_ns(), entry[2])
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no statement of database {self.database} matched "
                                   f"{pattern!r} within {timeout_s:.1f}s")
            time.sleep(POLL_S)


@dataclass(frozen=True)
class StatementWatch:
    """One pattern in one statement log: what a fault waits for (a SUT's claim poll)."""

    log: StatementLog
    pattern: str

    def mark(self) -> int:
        return self.log.mark()

    def wait(self, since: int, timeout_s: float) -> Statement | None:
        """The first matching statement after ``since``; None when none came in ``timeout_s``."""
        try:
            return self.log.wait(self.pattern, since, timeout_s)
        except TimeoutError:
            return None


@runtime_checkable
class LogsStatements(Protocol):
    """An environment ability: the statement log of a trial's database."""

    def statements_unavailable(self) -> str | None:
        """Why this environment has no statement log now (None: it has one)."""
        ...

    def statement_log(self, db_url: str) -> StatementLog:
        """Start logging the statements of ``db_url``'s database (before its workers connect)."""
        ...


def statements_unavailable(env: object) -> str | None:
    """Why ``env`` cannot anchor a fault on a statement; None when it can."""
    if not isinstance(env, LogsStatements):
        return (f"the {type(env).__name__} has no statement log to anchor a fault on a statement "
                "(the local environment's embedded Postgres has)")
    return env.statements_unavailable()
