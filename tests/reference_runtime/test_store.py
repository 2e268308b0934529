"""The store's schema migration and the database boundary (unreachable Postgres)."""

from __future__ import annotations

import threading
import time

import pytest
from rt_support import RuntimeFactory, running_worker, sql, wait_for

from harness.env.postgres import EmbeddedPostgres, free_port
from reference_runtime import (
    SCHEMA_VERSION,
    App,
    FenceAnnouncementError,
    FencedError,
    Runtime,
    SchemaVersionError,
    UnreachableDatabaseError,
    WorkflowCancelledError,
)
from reference_runtime._store import StepRecordRequest
from tests.reference_runtime import apps
from tests.reference_runtime.apps import app


def test_migration_is_idempotent_and_safe_under_concurrent_first_connects(
    pg_url: str, schema: str
) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def connect() -> None:
        try:
            barrier.wait(timeout=10)
            Runtime(app, pg_url, "m", schema=schema, heartbeat_s=1).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=connect) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    Runtime(app, pg_url, "again", schema=schema, heartbeat_s=1).close()
    versions = sql(pg_url, f"SELECT version FROM {schema}.schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


def test_a_version_1_schema_gains_the_claim_log_and_every_claim_is_logged(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    make_runtime().close()
    sql(pg_url, f"DROP TABLE {schema}.claims")  # as a runtime before the claim log left it
    sql(pg_url, f"DELETE FROM {schema}.schema_version WHERE version > 1")
    rt = make_runtime("claimer")
    assert sql(pg_url, f"SELECT max(version) FROM {schema}.schema_version") == [(SCHEMA_VERSION,)]
    rt.start_workflow(apps.child_work, 1, workflow_id="logged")
    claim = dict(executor_id="claimer", names=["child_work"], held=[], limit=5, lease_s=30.0,
                 max_recovery_attempts=10, detect=False)  # fmt: skip
    (first,) = rt.store.claim(**claim)
    # ours but not held by this process: without our lock, another process of our id may live
    assert rt.store.claim(**claim) == []
    (again,) = rt.store.claim(**claim, locked=True)  # a restart's claim, holding its lock
    assert [(c.epoch, c.reason, c.previous_owner) for c in (first, again)] == [
        (1, "unowned", None), (2, "own", "claimer")]  # fmt: skip
    log = rt.list_claims("logged")
    assert [(c.workflow_id, c.epoch, c.executor_id, c.previous_owner, c.reason) for c in log] == [
        ("logged", 1, "claimer", None, "unowned"), ("logged", 2, "claimer", "claimer", "own")]
    info = rt.get_workflow("logged")
    assert info is not None
    assert log[0].claimed_ns < log[1].claimed_ns == info.updated_ns, "claimed_at is the claim's"
    assert rt.list_claims("no-such-workflow") == []


def test_a_schema_from_a_newer_runtime_is_refused(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    make_runtime().close()
    sql(pg_url, f"INSERT INTO {schema}.schema_version (version) VALUES (%s)", (SCHEMA_VERSION + 7,))
    with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 7}") as refused:
        make_runtime()
    assert "newer" in str(refused.value)


def test_unreachable_postgres_names_host_and_port_but_not_the_password() -> None:
    port = free_port()
    dsn = f"postgresql://alice:s3cret-pw@127.0.0.1:{port}/db"
    started = time.monotonic()
    with pytest.raises(UnreachableDatabaseError) as unreachable:
        Runtime(App("empty"), dsn, "w", connect_timeout_s=1.0, heartbeat_s=1)
    message = str(unreachable.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message
    assert "DURABENCH_POSTGRES_URL" in message
    assert time.monotonic() - started < 10


def test_heartbeat_must_be_shorter_than_the_lease(pg_url: str) -> None:
    with pytest.raises(ValueError, match="heartbeat_s"):
        Runtime(app, pg_url, "w", lease_s=1.0, heartbeat_s=1.0)


def _claimed(rt: Runtime, wid: str) -> int:
    rt.start_workflow(apps.branching, "x", workflow_id=wid)
    (claim,) = rt.store.claim(
        "owner",
        names=[apps.branching.__name__],
        held=[],
        limit=1,
        lease_s=30,
        max_recovery_attempts=10,
    )
    assert claim.workflow_id == wid
    return claim.epoch


def _step(wid: str, seq: int, epoch: int) -> StepRecordRequest:
    return StepRecordRequest(wid, seq, "step_a", '"a"', None, "owner", epoch)


def test_step_and_outcome_writes_are_idempotent_for_their_epoch_and_fenced_for_others(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    epoch = _claimed(rt, "w")
    rt.store.record_step(_step("w", 0, epoch))
    rt.store.record_step(_step("w", 0, epoch))  # a retry after a lost acknowledgement
    assert [(s.seq, s.epoch) for s in rt.list_steps("w")] == [(0, epoch)]
    with pytest.raises(FencedError, match="epoch 1"):
        rt.store.record_step(_step("w", 1, epoch - 1))
    with pytest.raises(FencedError):
        rt.store.record_outcome("w", epoch + 1, "SUCCESS", '"late"', None)
    rt.store.record_outcome("w", epoch, "SUCCESS", '"a"', None)
    rt.store.record_outcome("w", epoch, "SUCCESS", '"a"', None)  # retried: a no-op
    with pytest.raises(FencedError, match="SUCCESS"):
        rt.store.record_step(_step("w", 1, epoch))
    info = rt.get_workflow("w")
    assert info is not None and (info.status, info.output) == ("SUCCESS", "a")
    assert len(rt.list_steps("w")) == 1

    cancelled_epoch = _claimed(rt, "c")
    rt.cancel("c")
    with pytest.raises(WorkflowCancelledError):
        rt.store.record_step(_step("c", 0, cancelled_epoch))
    with pytest.raises(WorkflowCancelledError):
        rt.store.record_outcome("c", cancelled_epoch, "SUCCESS", "null", None)
    cancelled = rt.get_workflow("c")
    assert cancelled is not None and cancelled.outcome_epoch is None, "a client cancelled it"


def test_the_outcome_keeps_its_writer_and_a_superseded_writer_is_not_it(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    rt = make_runtime()
    old = _claimed(rt, "o")
    assert (rt.get_workflow("o") or pytest.fail("missing")).outcome_epoch is None
    sql(pg_url, f"UPDATE {schema}.workflows SET lease_expires_at = now() - interval '1 s'")
    (new,) = rt.store.claim("taker", names=[apps.branching.__name__], held=[], limit=1,
                            lease_s=30, max_recovery_attempts=10, detect=False)  # fmt: skip
    assert new.epoch == old + 1
    with pytest.raises(FencedError):
        rt.store.record_outcome("o", old, "SUCCESS", '"zombie"', None, "owner")
    rt.store.record_outcome("o", new.epoch, "SUCCESS", '"new"', None, "taker")
    info = rt.get_workflow("o")
    assert info is not None
    assert (info.output, info.epoch, info.outcome_epoch, info.outcome_executor) == (
        "new", new.epoch, new.epoch, "taker")


def test_a_postgres_crash_mid_workflow_is_ridden_out() -> None:
    key = "db-crash"
    with (
        EmbeddedPostgres(run_id="rt-db-crash") as pg,
        Runtime(
            app, pg.url, "w", lease_s=5, heartbeat_s=0.5, poll_s=0.05, connect_timeout_s=2
        ) as rt,
        running_worker(rt),
    ):
        handle = rt.start_workflow(apps.cancellable, key, workflow_id=key)
        wait_for(lambda: apps.COUNTS[f"blocked:{key}"] == 1, 10, "the blocking step to start")
        pg.crash()
        apps.GATES[key].set()  # the step returns while Postgres is down: its record must wait
        time.sleep(1.0)
        pg.start()
        assert handle.result(timeout=30) == "after"
        steps = rt.list_steps(key)
    assert [(s.seq, s.name) for s in steps] == [(0, "counted"), (1, "blocked"), (2, "after")]
    assert apps.COUNTS[f"blocked:{key}"] == 1 and apps.COUNTS[f"after:{key}"] == 1


def test_a_worker_never_claims_a_workflow_it_is_running_even_after_its_lease_expired(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    """After a database outage longer than the lease, the worker's poll must not re-claim its own
    live execution (that would fence it and pay its in-flight step again)."""
    rt = make_runtime("me")
    rt.start_workflow("gated", "/nonexistent", workflow_id="held-wf")
    store = rt.store
    claim = dict(executor_id="me", names=["gated"], limit=5, lease_s=30.0,
                 max_recovery_attempts=10)  # fmt: skip
    first = store.claim(held=[], **claim)  # type: ignore[arg-type]
    assert [c.workflow_id for c in first] == ["held-wf"]
    sql(pg_url, f"UPDATE {schema}.workflows SET lease_expires_at = now() - interval '1 second'")
    assert store.claim(held=["held-wf"], **claim) == []  # type: ignore[arg-type]
    # A restarted worker with the same executor id holds nothing yet: it recovers its workflow.
    again = store.claim(held=[], **claim)  # type: ignore[arg-type]
    assert [(c.workflow_id, c.epoch) for c in again] == [("held-wf", first[0].epoch + 1)]


def test_a_claim_announces_its_epochs_before_it_commits_and_a_failed_announcement_undoes_it(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    rt = make_runtime()
    rt.start_workflow(apps.branching, "x", workflow_id="f")
    seen: list[tuple[list[tuple[str, int]], tuple[str, int] | None, int]] = []

    def announce(fences: object) -> None:
        pairs = list(fences)  # type: ignore[call-overload]
        # from another session the claim is not visible yet: the row still shows the old epoch
        row = sql(pg_url, f"SELECT executor_id, epoch FROM {schema}.workflows "
                          "WHERE workflow_id = 'f'")
        seen.append((pairs, row[0] if row else None, time.time_ns()))
        time.sleep(0.5)  # a slow announcement (a loaded machine): the lease must not lose it

    def refuse(fences: object) -> None:
        raise OSError("the sink is unreachable")

    claim_args = {"names": [apps.branching.__name__], "held": [], "limit": 1, "lease_s": 30,
                  "max_recovery_attempts": 10, "detect": False}
    with pytest.raises(FenceAnnouncementError, match="sink is unreachable"):
        rt.store.claim("taker", **claim_args, announce=refuse)  # type: ignore[arg-type]
    info = rt.get_workflow("f")
    assert info is not None and (info.executor_id, info.epoch) == (None, 0), "rolled back"
    assert rt.list_claims("f") == []

    (claim,) = rt.store.claim("taker", **claim_args, announce=announce)  # type: ignore[arg-type]
    assert claim.epoch == 1
    ((pairs, row, announced_ns),) = seen
    assert pairs == [("f", 1)]
    assert row == (None, 0), "the announcement came before the claim was committed"
    (logged,) = rt.list_claims("f")
    assert logged.claimed_ns >= announced_ns // 1000 * 1000, "claimed_at is after the announcement"
    ((lease_left_s,),) = sql(pg_url, f"""SELECT extract(epoch FROM lease_expires_at - claimed_at)
        FROM {schema}.workflows w JOIN {schema}.claims c USING (workflow_id)
        WHERE w.workflow_id = 'f' AND c.epoch = 1""")
    assert float(lease_left_s) >= 29.99, "the lease starts when the claim takes effect"
