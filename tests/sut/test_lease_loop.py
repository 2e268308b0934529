"""The shared lease-and-resume loop (harness/sut/_lease_loop.py) on a real Postgres, through the
``plain`` adapter's job table: who may claim what, when a lease lets another worker in, the first
outcome wins, and the claim limit dead-letters."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from harness.env.local import LocalEnvironment
from harness.sut._lease_loop import Claim, LeaseLoop
from harness.sut.plain import JOBS_TABLE, Queue, ensure_schema
from harness.sut.plain.worker import JOBS


class Recording(LeaseLoop):
    """Runs nothing: remembers the claims it was handed and blocks until released."""

    def __init__(self, queue: Queue, executor_id: str, *, lease_s: float = 30.0,
                 max_attempts: int = 11) -> None:  # fmt: skip
        args = argparse.Namespace(lease=lease_s, heartbeat=0.05, poll=0.05, grace=0.2,
                                  max_attempts=max_attempts)  # fmt: skip
        super().__init__(JOBS, queue, executor_id, args, logging.getLogger("test_lease_loop"))
        self.ran: list[Claim] = []
        self.release = threading.Event()

    def run_claim(self, claim: Claim) -> None:
        self.ran.append(claim)
        self.release.wait(10.0)


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="lease-loop-test") as env:
        yield env


@pytest.fixture
def queue(env: LocalEnvironment, request: pytest.FixtureRequest) -> Queue:
    q = Queue(env.create_database(request.node.name[:40]))
    q.run(ensure_schema, retry_s=30.0)
    return q


def add(queue: Queue, *job_ids: str) -> None:
    """Root jobs, created in this order."""
    sql = (f"INSERT INTO {JOBS_TABLE} (job_id, workload, params, created_ns, updated_ns) "
           "VALUES (%s, 'research_agent', %s, %s, %s)")  # fmt: skip
    rows = [(job_id, Jsonb({}), n, n) for n, job_id in enumerate(job_ids)]
    queue.run(lambda c: c.cursor().executemany(sql, rows), retry_s=10.0)


def row(queue: Queue, job_id: str) -> tuple[object, ...]:
    found = queue.run(lambda c: c.execute(
        f"SELECT status, executor, attempt, lease_until > now() FROM {JOBS_TABLE} "
        "WHERE job_id = %s", (job_id,)).fetchone(), retry_s=10.0)  # fmt: skip
    assert found is not None
    return tuple(found)


def test_a_held_lease_keeps_others_out_until_it_expires(queue: Queue) -> None:
    add(queue, "j1", "j2")
    a, b = Recording(queue, "w-a"), Recording(queue, "w-b")
    first = a.claim()
    assert first == Claim("j1", "research_agent", {}, 1)  # the oldest first
    second = b.claim()
    assert second is not None and second.workflow_id == "j2"
    assert Recording(queue, "w-c").claim() is None  # both leased, to others
    a.set_lease("j1", 1, -1.0, retry_s=5.0)  # expired: anyone may take it over
    taken = b.claim()
    assert taken == Claim("j1", "research_agent", {}, 2, superseded="w-a")
    assert row(queue, "j1") == ("PENDING", "w-b", 2, True)


def test_a_restarted_worker_reclaims_its_own_jobs_at_once(queue: Queue) -> None:
    add(queue, "j1")
    assert Recording(queue, "w-pod").claim() is not None
    assert Recording(queue, "w-other").claim() is None  # leased for 30 s
    again = Recording(queue, "w-pod").claim()  # same executor id, not running it
    assert again is not None and again.attempt == 2
    assert again.superseded is None  # its own: nothing of another executor to end


def test_a_superseded_claim_neither_renews_nor_expires_the_new_lease(queue: Queue) -> None:
    add(queue, "j1")
    a = Recording(queue, "w-a")
    assert a.claim() is not None
    a.set_lease("j1", 1, -1.0, retry_s=5.0)
    assert Recording(queue, "w-b").claim() is not None  # attempt 2
    a.set_lease("j1", 1, -1.0, retry_s=5.0)  # attempt 1's release: stale
    assert row(queue, "j1") == ("PENDING", "w-b", 2, True)
    assert a.latest("j1", retry_s=5.0) == (2, "PENDING")


def test_the_first_outcome_wins(queue: Queue) -> None:
    add(queue, "j1")
    loop = Recording(queue, "w-a")
    assert loop.finish("j1", "SUCCESS", {"answer": 1})
    assert not loop.finish("j1", "ERROR", {"error": "late"})
    assert row(queue, "j1")[0] == "SUCCESS"


def test_serve_runs_claims_on_threads_and_shutdown_expires_the_leases_left(queue: Queue) -> None:
    add(queue, "j1")
    loop = Recording(queue, "w-a")
    server = threading.Thread(target=loop.serve, daemon=True)
    server.start()
    deadline = time.monotonic() + 10.0
    while not loop.ran and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c.workflow_id for c in loop.ran] == ["j1"]
    assert set(loop.running) == {"j1"}
    loop.stop.set()
    server.join(5.0)
    loop.shutdown()  # the claim is still running past grace / 2: its lease is expired
    assert row(queue, "j1") == ("PENDING", "w-a", 1, False)
    loop.release.set()


def test_a_job_claimed_past_the_limit_is_dead_lettered_not_run(queue: Queue) -> None:
    add(queue, "j1")
    loop = Recording(queue, "w-a", max_attempts=1)
    for _ in range(2):
        claim = loop.claim()
        assert claim is not None
        loop.set_lease("j1", claim.attempt, -1.0, retry_s=5.0)
    loop.start(claim)
    assert loop.ran == [] and row(queue, "j1")[:3] == ("DEAD_LETTER", "w-a", 2)


WRITES = "lease_loop_test_writes"
"""Stands for a runtime's own table (LangGraph's ``checkpoint_writes``)."""


def _frozen_mid_pipeline(dsn: str, executor_id: str, job_id: str) -> tuple[Any, ...]:
    """A session named ``executor_id`` that sent a write of ``job_id``'s row inside a pipeline
    and never synced: a worker frozen (SIGSTOP) between a pipeline's statements and its sync, as
    LangGraph's checkpointer writes."""
    conn = psycopg.connect(dsn, autocommit=True, application_name=executor_id,
                           options="-c idle_in_transaction_session_timeout=200")  # fmt: skip
    pipeline = conn.pipeline()
    pipeline.__enter__()
    conn.execute(f"UPDATE {WRITES} SET n = n + 1 WHERE job_id = %s", (job_id,))
    conn.pgconn.flush()  # sent and executed; the sync never comes
    return conn, pipeline  # the pipeline, once collected, would sync


def _row_is_locked(queue: Queue, job_id: str) -> bool:
    def op(c: psycopg.Connection) -> bool:
        c.execute("SET lock_timeout = '300ms'")
        try:
            c.execute(f"UPDATE {WRITES} SET n = n + 1 WHERE job_id = %s", (job_id,))
        except psycopg.errors.LockNotAvailable:
            return True
        finally:
            c.execute("RESET lock_timeout")
        return False

    return queue.run(op, retry_s=10.0)


def test_a_takeover_ends_the_sessions_of_the_superseded_executor(queue: Queue) -> None:
    """A frozen worker's unsynced pipeline holds its row locks past the server's
    idle-in-transaction timeout; the worker that takes its job over ends its sessions, and the
    locks go with them. Without ``end_superseded_sessions`` they stay."""
    add(queue, "j1", "j2")
    queue.run(lambda c: c.execute(
        f"UPDATE {JOBS_TABLE} SET executor = 'w-frozen', attempt = 1, "
        "lease_until = now() - interval '1 second'"), retry_s=10.0)  # fmt: skip
    queue.run(lambda c: c.execute(
        f"CREATE TABLE {WRITES} AS SELECT job_id, 0 AS n FROM {JOBS_TABLE}"), retry_s=10.0)
    zombies = [_frozen_mid_pipeline(queue.dsn, "w-frozen", j) for j in ("j1", "j2")]
    time.sleep(0.6)  # three idle-in-transaction timeouts: none applies mid-pipeline
    assert _row_is_locked(queue, "j1")

    plain_loop = Recording(queue, "w-plain")  # end_superseded_sessions off: nothing ended
    taken = plain_loop.claim()
    assert taken is not None and (taken.workflow_id, taken.superseded) == ("j1", "w-frozen")
    plain_loop.start(taken)
    assert _row_is_locked(queue, "j1")

    ending = Recording(queue, "w-takeover")
    ending.end_superseded_sessions = True
    taken = ending.claim()
    assert taken is not None and (taken.workflow_id, taken.superseded) == ("j2", "w-frozen")
    ending.start(taken)
    assert not _row_is_locked(queue, "j1") and not _row_is_locked(queue, "j2")
    for zombie, _ in zombies:
        with pytest.raises(psycopg.OperationalError):
            zombie.execute("SELECT 1").fetchone()
    plain_loop.release.set()
    ending.release.set()
