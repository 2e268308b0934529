"""The lease-and-resume loop of the adapters whose runtime resumes nothing by itself (``plain``,
``langgraph``): the minimal loop a deployer writes around such a runtime.

Its table (:class:`LeaseTable`) holds one row per workflow: ``status`` (``PENDING`` until an
outcome is written), ``executor``, ``attempt`` (claims so far), ``lease_until``, ``created_ns``
and ``parent_id`` (children are run by their parent, never claimed). A worker's life:

1. :meth:`LeaseLoop.serve` prints ``worker <executor-id> ready`` and, every ``--poll`` seconds,
   claims one root workflow (``FOR UPDATE SKIP LOCKED``): one nobody holds, one held by this
   executor id that it is not running (a restarted worker), or one whose lease expired; the
   claim raises ``attempt``;
2. :meth:`LeaseLoop.start` dead-letters a workflow claimed more than ``--max-attempts`` times,
   else runs the adapter's :meth:`LeaseLoop.run_claim` on a thread of its own;
3. :meth:`LeaseLoop.heartbeat` renews the leases of the workflows it runs every ``--heartbeat``
   seconds (only while the claim is the row's latest and the row still ``PENDING``);
4. the adapter writes the outcome with :meth:`LeaseLoop.finish` (the first writer wins);
5. SIGTERM sets :attr:`LeaseLoop.stop`; :meth:`LeaseLoop.shutdown` lets running workflows finish
   within half of ``--grace`` seconds and expires the leases of the rest, so that another worker
   claims them at once.

Nothing here fences a superseded execution: the lease decides only who claims next.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import psycopg
from psycopg.types.json import Jsonb

T = TypeVar("T")

CLAIM_POLL = r"SET executor = \$\d+, attempt = attempt \+ 1"
"""The claim poll (:attr:`LeaseTable.claim_sql`) as Postgres logs it: ``SutDescription.claim_poll``
of the adapters on this loop."""


class Database(Protocol):
    """The adapter's connection to its table (``Queue``, ``Store``)."""

    def run(self, op: Callable[[psycopg.Connection[Any]], T], *, retry_s: float) -> T:
        """Run ``op`` (idempotent), retrying on a fresh connection until ``retry_s`` passed."""
        ...


@dataclass(frozen=True)
class LeaseTable:
    """The adapter's table of workflows: its name, its key column and the column an outcome's
    JSON goes to."""

    name: str
    key: str
    outcome: str

    @property
    def claim_sql(self) -> str:
        """Claims one workflow; returns it with the executor that held it before."""
        return f"""
WITH chosen AS (
    SELECT {self.key} AS key, executor FROM {self.name}
    WHERE status = 'PENDING' AND parent_id IS NULL AND NOT ({self.key} = ANY(%(running)s))
      AND (executor IS NULL OR executor = %(me)s OR lease_until < now())
    ORDER BY created_ns LIMIT 1 FOR UPDATE SKIP LOCKED)
UPDATE {self.name} SET executor = %(me)s, attempt = attempt + 1, updated_ns = %(now)s,
       lease_until = now() + make_interval(secs => %(lease)s)
FROM chosen WHERE {self.name}.{self.key} = chosen.key
RETURNING {self.name}.{self.key}, workload, params, attempt, chosen.executor
"""

    @property
    def finish_sql(self) -> str:
        """First writer wins, whichever claim it runs under: nothing fences a superseded
        execution."""
        return f"""
UPDATE {self.name} SET status = %(status)s, {self.outcome} = %(outcome)s, updated_ns = %(now)s,
       lease_until = NULL
WHERE {self.key} = %(key)s AND status = 'PENDING'
"""

    @property
    def lease_sql(self) -> str:
        return (f"UPDATE {self.name} SET lease_until = now() + make_interval(secs => %s) "
                f"WHERE {self.key} = %s AND attempt = %s AND status = 'PENDING'")  # fmt: skip

    @property
    def latest_sql(self) -> str:
        return f"SELECT attempt, status FROM {self.name} WHERE {self.key} = %s"


@dataclass(frozen=True)
class Claim:
    """One claim of a workflow: the ``attempt``-th."""

    workflow_id: str
    workload: str
    params: Mapping[str, Any]
    attempt: int
    superseded: str | None = None
    """The executor whose expired lease this claim took over (``None``: the workflow was nobody's,
    or this executor's own)."""


class LeaseLoop(ABC):
    """Claims, runs, renews, releases (see the module docstring). An adapter subclasses it and
    implements :meth:`run_claim`; ``args`` is the worker's command line (``--lease``,
    ``--heartbeat``, ``--poll``, ``--grace``, ``--max-attempts``)."""

    thread_prefix = "workflow"
    """Names the thread that runs a claim: ``<prefix>-<workflow id>``."""

    end_superseded_sessions = False
    """Whether a claim that takes a workflow over from another executor first ends that
    executor's database sessions (:meth:`end_sessions_of`). An adapter whose runtime writes
    several statements in one transaction or pipeline (LangGraph's checkpointer) sets it and
    names its sessions after its executor id (``application_name``): a worker frozen between a
    pipeline's statements and its sync holds their row locks, the server's
    ``idle_in_transaction_session_timeout`` never starts (the session is not idle: it waits for
    the rest of the pipeline), and the replacement's write of the same task waits on them for as
    long as the freeze lasts (CI saw a paused LangGraph worker block its replacement for 90 s).
    Not a fence: the superseded worker reconnects when it wakes up."""

    def __init__(self, table: LeaseTable, db: Database, executor_id: str,
                 args: argparse.Namespace, log: logging.Logger) -> None:  # fmt: skip
        self.table = table
        self.db = db
        self.executor_id = executor_id
        self.args = args
        self.log = log
        self.stop = threading.Event()
        self.running: dict[str, tuple[int, threading.Thread]] = {}
        self.lock = threading.Lock()

    @abstractmethod
    def run_claim(self, claim: Claim) -> None:
        """Run the claimed workflow to an outcome (the adapter's part), on the claim's thread."""

    def claim(self) -> Claim | None:
        with self.lock:
            running = list(self.running)
        params = {"me": self.executor_id, "now": time.time_ns(), "lease": self.args.lease,
                  "running": running}  # fmt: skip
        sql = self.table.claim_sql
        row = self.db.run(lambda c: c.execute(sql, params).fetchone(), retry_s=0.0)
        if row is None:
            return None
        previous = row[4] if row[4] not in (None, self.executor_id) else None
        return Claim(row[0], row[1], row[2], int(row[3]), previous)

    def finish(self, workflow_id: str, status: str, outcome: Any) -> bool:
        """Write the workflow's outcome unless one is written already; whether this one was."""
        params = {"status": status, "outcome": Jsonb(outcome), "now": time.time_ns(),
                  "key": workflow_id}  # fmt: skip
        sql = self.table.finish_sql
        return bool(self.db.run(lambda c: c.execute(sql, params).rowcount, retry_s=3600.0))

    def latest(self, workflow_id: str, retry_s: float) -> tuple[Any, ...] | None:
        """The workflow's ``(attempt, status)``: whether a claim is still its latest."""
        sql = self.table.latest_sql
        row: tuple[Any, ...] | None = self.db.run(
            lambda c: c.execute(sql, (workflow_id,)).fetchone(), retry_s=retry_s)
        return row

    def start(self, claim: Claim) -> None:
        if claim.attempt > self.args.max_attempts:
            self.dead_letter(claim)
            return
        if claim.superseded is not None and self.end_superseded_sessions:
            self.end_sessions_of(claim.superseded)

        def body() -> None:
            try:
                self.run_claim(claim)
            finally:
                with self.lock:
                    self.running.pop(claim.workflow_id, None)

        name = f"{self.thread_prefix}-{claim.workflow_id}"
        thread = threading.Thread(target=body, name=name, daemon=True)
        with self.lock:
            self.running[claim.workflow_id] = (claim.attempt, thread)
        thread.start()

    def end_sessions_of(self, executor_id: str) -> None:
        """End the database sessions named ``executor_id`` (``application_name``), rolling back
        whatever they hold; logs how many. A failure is logged, never raised: the claim goes on."""
        sql = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
               "WHERE application_name = %s AND pid <> pg_backend_pid() "
               "AND datname = current_database()")  # fmt: skip
        try:
            row = self.db.run(lambda c: c.execute(sql, (executor_id,)).fetchone(), retry_s=2.0)
        except psycopg.Error as exc:
            self.log.warning("could not end the sessions of %s: %s", executor_id, exc)
            return
        if row and row[0]:
            self.log.info("ended %d database session(s) of superseded executor %s", row[0],
                          executor_id)  # fmt: skip

    def dead_letter(self, claim: Claim) -> None:
        self.finish(claim.workflow_id, "DEAD_LETTER", {"error": f"claimed {claim.attempt} times"})

    def heartbeat(self) -> None:
        while not self.stop.wait(self.args.heartbeat):
            with self.lock:
                held = [(w, a) for w, (a, _) in self.running.items()]
            for workflow_id, attempt in held:
                try:
                    self.set_lease(workflow_id, attempt, self.args.lease, retry_s=0.0)
                except psycopg.Error as exc:
                    self.log.warning("heartbeat failed: %s", exc)

    def serve(self) -> None:
        threading.Thread(target=self.heartbeat, name="heartbeat", daemon=True).start()
        print(f"worker {self.executor_id} ready", flush=True)
        while not self.stop.wait(self.args.poll):
            try:
                claim = self.claim()
            except psycopg.Error as exc:
                self.log.warning("claim failed: %s", exc)
                continue
            if claim is not None:
                self.log.info("claimed %s (attempt %d)", claim.workflow_id, claim.attempt)
                self.start(claim)

    def shutdown(self) -> None:
        """Let running workflows finish within half the grace period (the rest is the margin for
        releasing and exiting before the SIGKILL); expire the leases of the rest."""
        deadline = time.monotonic() + self.args.grace / 2
        with self.lock:
            threads = [t for _, t in self.running.values()]
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self.lock:
            left = [(w, a) for w, (a, _) in self.running.items()]
        for workflow_id, attempt in left:
            self.set_lease(workflow_id, attempt, -1.0, retry_s=2.0)

    def set_lease(self, workflow_id: str, attempt: int, lease_s: float, retry_s: float) -> None:
        """Lease of a workflow this execution holds: now + ``lease_s`` (negative: expired)."""
        sql = self.table.lease_sql

        def op(conn: psycopg.Connection[Any]) -> None:
            conn.execute(sql, (lease_s, workflow_id, attempt))

        self.db.run(op, retry_s=retry_s)
