"""The database boundary over a slow link (``reference_runtime._db``), through a real Toxiproxy
link whose every answer is late (a ``latency`` toxic on the downstream).

Opening a session takes four round trips (SSL refusal, startup, two SCRAM exchanges): at 1 s per
answer, a connect timeout of 2 s can never be met, so a runtime that retried with the same bound
would never reach a store that answers every query. And the worker's own traffic (claims,
heartbeats, its executor lock) runs on sessions of its own, so that an execution's step write
never has to wait for, or open, a connection because polls hold the pooled ones.

No assertion here depends on timing: a 2 s bound can never cover four 1 s round trips, whatever
the machine's load, so the first attempt always times out and only a grown bound gets through."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rt_support import RuntimeFactory, running_worker, sql, wait_for

from harness.net import toxiproxy_server
from reference_runtime._db import Database
from reference_runtime._liveness import SessionLock
from tests.reference_runtime import apps

LATENCY_MS = 1000


@pytest.fixture
def slow_dsn(pg_url: str) -> Iterator[str]:
    """``pg_url`` through a Toxiproxy link that delays every answer by ``LATENCY_MS``."""
    pg = conninfo_to_dict(pg_url)
    with toxiproxy_server(f"rt-{uuid.uuid4().hex[:6]}") as server, server.client() as toxiproxy:
        link = toxiproxy.create_proxy(
            f"rt_pg_{uuid.uuid4().hex[:6]}",
            "127.0.0.1:0",
            f"{pg.get('host') or '127.0.0.1'}:{pg.get('port') or 5432}",
        )
        with toxiproxy.toxic(link.name, "latency", stream="downstream", latency=LATENCY_MS):
            yield make_conninfo(pg_url, host=link.listen_host, port=str(link.listen_port))


def test_a_slow_link_is_reached_although_a_connect_outlasts_its_first_timeout(
    slow_dsn: str,
) -> None:
    db = Database(slow_dsn, connect_timeout_s=2.0, retry_s=120.0, op_timeout_s=30.0)
    try:
        with pytest.raises(Exception, match="timeout"):
            db.connect().close()  # the configured bound alone cannot cover the handshake
        assert db.run(lambda conn: conn.execute("SELECT 41 + 1").fetchone()) == (42,)
    finally:
        db.close()


def test_the_executor_lock_is_taken_over_a_slow_link(slow_dsn: str, schema: str) -> None:
    db = Database(slow_dsn, connect_timeout_s=2.0, retry_s=120.0, op_timeout_s=30.0)
    lock = SessionLock(db, schema, "w-slow", probe_s=0.5)
    try:
        lock.start()  # its first attempt times out: the monitor tries again with more time
        wait_for(lambda: lock.state == "held", 90, "the executor lock over the slow link")
    finally:
        lock.stop()
        db.close()


def test_the_worker_polls_on_sessions_of_its_own_and_steps_are_written_on_others(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    client = make_runtime("client")  # its own pool: the worker's sessions see only the worker
    with running_worker(make_runtime("w-sessions")):
        client.start_workflow(apps.branching, "k-sessions").result(timeout=30)
        # The worker keeps polling: each session's last statement tells which pool it serves.
        sessions = wait_for(lambda: _sessions(pg_url, schema), 10, "claims and step writes")
    # Each pool's sessions are named after it and the executor (the statement log tells workers
    # apart by the name).
    assert sessions["claim"] == {"reference_runtime:worker:w-sessions"}, sessions
    assert sessions["step"] | sessions["outcome"] == {"reference_runtime:w-sessions"}, sessions


def test_heartbeats_have_a_session_of_their_own(
    make_runtime: RuntimeFactory, pg_url: str, schema: str, tmp_path: Path
) -> None:
    """After an outage the heartbeat wakes on its own connection's answer: it never has to open
    one because the claim loop holds the pooled one, so its next renewal follows its own timer."""
    client = make_runtime("client")
    with running_worker(make_runtime("w-beats")):
        handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="beats")
        beats = wait_for(lambda: _sessions_of(pg_url, schema, "FROM unnest("), 10,
                         "a heartbeat while the gate holds the workflow")  # fmt: skip
        (tmp_path / "go").touch()
        handle.result(timeout=30)
    assert beats == {"reference_runtime:heartbeat:w-beats"}, beats


def _sessions_of(pg_url: str, schema: str, marker: str) -> set[str] | None:
    """Application names of the sessions whose last statement contains ``marker``."""
    rows = sql(pg_url, "SELECT application_name FROM pg_stat_activity "
                       "WHERE datname = current_database() AND query LIKE %s AND query LIKE %s",
               (f"%{schema}.%", f"%{marker}%"))  # fmt: skip
    return {name for (name,) in rows} or None


def _sessions(pg_url: str, schema: str) -> dict[str, set[str]] | None:
    """``{statement kind: application names of the sessions whose last statement it was}``."""
    rows = sql(pg_url, "SELECT application_name, query FROM pg_stat_activity "
                       "WHERE datname = current_database() AND query LIKE %s",
               (f"%{schema}.%",))  # fmt: skip
    markers = {"claim": "WITH live AS MATERIALIZED", "step": f"INSERT INTO {schema}.steps",
               "outcome": "output = "}  # fmt: skip
    found: dict[str, set[str]] = {kind: set() for kind in markers}
    for name, query in rows:
        for kind, marker in markers.items():
            if marker in query:
                found[kind].add(name)
    return found if found["claim"] and (found["step"] or found["outcome"]) else None
