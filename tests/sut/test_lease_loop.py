"""The shared lease-and-resume loop (harness/sut/_lease_loop.py) on a real Postgres, through the
``plain`` adapter's job table: who may claim what, when a lease lets another worker in, the first
outcome wins, and the claim limit dead-letters."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Iterator

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
    assert taken == Claim("j1", "research_agent", {}, 2)
    assert row(queue, "j1") == ("PENDING", "w-b", 2, True)


def test_a_restarted_worker_reclaims_its_own_jobs_at_once(queue: Queue) -> None:
    add(queue, "j1")
    assert Recording(queue, "w-pod").claim() is not None
    assert Recording(queue, "w-other").claim() is None  # leased for 30 s
    again = Recording(queue, "w-pod").claim()  # same executor id, not running it
    assert again is not None and again.attempt == 2


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
