"""Session liveness (``reference_runtime._liveness``) with real Postgres and real signals: a killed
worker is taken over long before its lease expires, a paused one still waits out its lease and is
fenced, a worker whose session was severed or whose Toxiproxy link was cut is fenced and
re-acquires its lock, a restarted worker takes its own lock again.

Orders are pinned with signals and the workflow's file gate, never with sleeps; the only timing
assertion compares a takeover with a third of a 30 s lease."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rt_support import RuntimeFactory, WorkerProcess, read_log, sql, wait_for

from harness.net import ToxiproxyClient, toxiproxy_server
from reference_runtime import Runtime
from reference_runtime._liveness import LockState, SessionLock, lock_namespace
from tests.reference_runtime import apps

Spawn = Callable[..., WorkerProcess]
LEASE_S = 30.0
LONG_LEASE = ["--lease", str(LEASE_S), "--heartbeat", "1", "--poll", "0.1"]


def _lock_pids(pg_url: str, schema: str, executor_id: str) -> list[int]:
    rows = sql(
        pg_url,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted "
        "AND classid = hashtext(%s)::oid AND objid = hashtext(%s)::oid",
        (lock_namespace(schema), executor_id),
    )
    return [int(r[0]) for r in rows]


def _owner(client: Runtime, wid: str) -> tuple[str | None, int]:
    info = client.get_workflow(wid)
    return (None, 0) if info is None else (info.executor_id, info.epoch)


def _started(path: Path, label: str, executor: str) -> bool:
    return any(entry[:2] == [label, executor] for entry in read_log(path))


def test_the_lock_is_held_for_the_session_and_retaken_after_it_is_severed(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    rt = make_runtime("w-lock")
    states: list[LockState] = []
    lock = SessionLock(rt._db, schema, "w-lock", probe_s=0.2, settle_s=600,
                       on_change=states.append)  # fmt: skip
    lock.start()
    try:
        assert lock.state == "held" and lock.may_claim
        assert lock.trusts_absence, "a first acquisition is trusted at once"
        (pid,) = _lock_pids(pg_url, schema, "w-lock")
        twin = SessionLock(rt._db, schema, "w-lock", probe_s=0.2)
        twin.start()  # the same executor id in another session: it must not block nor steal
        assert twin.state == "elsewhere" and twin.may_claim
        twin.stop()
        assert sql(pg_url, "SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        wait_for(lambda: "lost" in states, 10, "the monitor to notice its session ended")
        wait_for(lambda: lock.state == "held", 10, "the lock to be taken again")
        (again,) = _lock_pids(pg_url, schema, "w-lock")
        assert again != pid
        assert states == ["held", "lost", "held"]
        assert not lock.trusts_absence, "after losing its own session, a worker waits to settle"
    finally:
        lock.stop()
    assert _lock_pids(pg_url, schema, "w-lock") == [], "stop() must release the lock"


def test_a_killed_worker_is_taken_over_long_before_its_lease_expires(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    client = make_runtime("client")
    workers = {w: spawn_worker(w, *LONG_LEASE) for w in ("w-a", "w-b")}
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="killed")
    owner = wait_for(
        lambda: next((w for w in workers if _started(tmp_path, "s2-start", w)), None),
        15,
        "a worker to start step 2",
    )
    survivor = next(w for w in workers if w != owner)
    workers[owner].signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: _owner(client, "killed") == (survivor, 2), LEASE_S, "the takeover")
    took = time.monotonic() - killed_at
    assert took < LEASE_S / 3, f"takeover took {took:.2f}s with a {LEASE_S:.0f}s lease"
    # The claim says why: the owner's session ended while its lease was still running.
    wait_for(lambda: f"epoch 2, session_ended from {owner}" in workers[survivor].stderr(), 10,
             "the survivor's log of its claim")  # fmt: skip
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "s2", "s3", survivor]
    # The claim log says the same, with the claim's time: after every write of epoch 1 it
    # fenced, before every write of epoch 2.
    log = client.list_claims("killed")
    assert [(c.epoch, c.executor_id, c.previous_owner, c.reason) for c in log] == [
        (1, owner, None, "unowned"), (2, survivor, owner, "session_ended")]  # fmt: skip
    steps = client.list_steps("killed")
    assert max(s.recorded_ns for s in steps if s.epoch == 1) < log[1].claimed_ns
    assert log[1].claimed_ns < min(s.recorded_ns for s in steps if s.epoch == 2)
    assert [e for e in read_log(tmp_path) if e[0] == "s1"] == [["s1", owner, "1"]]


def test_a_paused_worker_keeps_its_lock_so_only_its_lease_lets_a_standby_in(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path, pg_url: str, schema: str
) -> None:
    short = ["--lease", "1.5", "--heartbeat", "0.3", "--poll", "0.1"]
    client = make_runtime("client")
    zombie = spawn_worker("w-zombie", *short)
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="paused")
    wait_for(lambda: _started(tmp_path, "s2-start", "w-zombie"), 15, "step 2 to start")
    zombie.signal(signal.SIGSTOP)
    try:
        live = spawn_worker("w-live", *short)
        wait_for(lambda: _owner(client, "paused") == ("w-live", 2), 15, "the takeover")
        assert _lock_pids(pg_url, schema, "w-zombie"), "a paused worker's session lives on"
        wait_for(lambda: "epoch 2, lease_expired from w-zombie" in live.stderr(), 10,
                 "the new owner's log of its claim")  # fmt: skip
        (tmp_path / "go").touch()
        assert handle.result(timeout=15) == ["s1", "s2", "s3", "w-live"]
    finally:
        zombie.signal(signal.SIGCONT)
    wait_for(
        lambda: "paused epoch 1 fenced, abandoned" in zombie.stderr(),
        15,
        "the zombie's late step write to be fenced",
    )
    steps = client.list_steps("paused")
    assert [(s.seq, s.executor_id, s.epoch) for s in steps] == [
        (0, "w-zombie", 1),
        (1, "w-live", 2),
        (2, "w-live", 2),
    ]


def test_a_worker_whose_session_was_severed_is_fenced_after_a_takeover(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path, pg_url: str, schema: str
) -> None:
    """The process lives, its lock's session is terminated (as a network blip or an operator
    would): another worker takes over at once, and every late write of the first is refused.
    SIGSTOP pins the order (the severed worker cannot re-take its lock before the takeover)."""
    client = make_runtime("client")
    severed = spawn_worker("w-severed", *LONG_LEASE)
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="severed")
    wait_for(lambda: _started(tmp_path, "s2-start", "w-severed"), 15, "step 2 to start")
    other = spawn_worker("w-other", *LONG_LEASE)
    severed.signal(signal.SIGSTOP)
    try:
        (pid,) = _lock_pids(pg_url, schema, "w-severed")
        assert sql(pg_url, "SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        cut_at = time.monotonic()
        wait_for(lambda: _owner(client, "severed") == ("w-other", 2), LEASE_S, "the takeover")
        assert time.monotonic() - cut_at < LEASE_S / 3
        wait_for(lambda: _started(tmp_path, "s2-start", "w-other"), 15, "the new owner's step 2")
    finally:
        severed.signal(signal.SIGCONT)
    wait_for(lambda: "lost" in severed.stderr(), 15, "the severed worker to notice")
    wait_for(
        lambda: [p for p in _lock_pids(pg_url, schema, "w-severed") if p != pid],
        15,
        "the severed worker to take its lock again",
    )
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "s2", "s3", "w-other"]
    wait_for(
        lambda: "severed epoch 1 fenced, abandoned" in severed.stderr(),
        15,
        "the severed worker's late step write to be fenced",
    )
    assert severed.proc is not None and severed.proc.poll() is None  # alive, just fenced
    info = client.get_workflow("severed")
    assert info is not None
    assert (info.status, info.epoch, info.executor_id) == ("SUCCESS", 2, "w-other")
    steps = client.list_steps("severed")
    assert [(s.seq, s.executor_id, s.epoch) for s in steps] == [
        (0, "w-severed", 1),
        (1, "w-other", 2),
        (2, "w-other", 2),
    ]
    assert not _started(tmp_path, "s3", "w-severed")
    wait_for(lambda: "epoch 2, session_ended from w-severed" in other.stderr(), 10,
             "the new owner's log of its claim")  # fmt: skip


def test_a_worker_claims_nothing_while_its_lock_is_lost(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    """A claim made without a lock would look like a dead worker's to everyone else."""
    rt = make_runtime("w-lockless", poll_s=0.05)
    stop = threading.Event()
    rt._worker._liveness._set("lost")  # as if its session had just dropped
    rt._worker._liveness.start = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=rt.run_worker, args=(stop,), daemon=True)
    thread.start()
    try:
        client = make_runtime("client")
        handle = client.start_workflow(apps.child_work, 20, workflow_id="waiting")
        time.sleep(0.5)  # ten polls: none may claim (a claim would show as an owner)
        assert _owner(client, "waiting") == (None, 0)
        rt._worker._liveness._set("held")  # the lock is back: claims resume
        assert handle.result(timeout=15) == 62
        assert _owner(client, "waiting") == ("w-lockless", 1)
    finally:
        stop.set()
        thread.join(timeout=5)


def test_a_missing_lock_lets_a_claim_in_only_when_the_claimer_trusts_it(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    rt = make_runtime("claimer")
    rt.start_workflow(apps.child_work, 1, workflow_id="orphan")
    sql(pg_url, f"UPDATE {schema}.workflows SET executor_id = 'ghost', epoch = 1, "
                "lease_expires_at = now() + interval '1 hour', owner_locked = true "
                "WHERE workflow_id = 'orphan'")  # fmt: skip
    claim = dict(executor_id="claimer", names=["child_work"], held=[], limit=5, lease_s=30.0,
                 max_recovery_attempts=10)  # fmt: skip
    assert rt.store.claim(**claim) == [], "the claimer holds no lock: it may be the one cut off"
    lock = SessionLock(rt._db, schema, "claimer", probe_s=0.2)
    lock.start()
    try:
        assert rt.store.claim(**claim, detect=False) == []
        (taken,) = rt.store.claim(**claim, detect=True)
        assert (taken.workflow_id, taken.epoch) == ("orphan", 2)
        assert (taken.reason, taken.previous_owner) == ("session_ended", "ghost")
    finally:
        lock.stop()


def test_a_claim_retried_across_a_lost_connection_asks_for_trust_again(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    """A claim whose connection dies is retried; the retry must not act on the trust the claimer
    had before (a worker that re-took its lock after an outage would skip its settling: the
    shared-outage scenario caught a standby claiming 0.5 s after re-taking its lock)."""
    rt = make_runtime("claimer")
    rt.start_workflow(apps.child_work, 1, workflow_id="orphan")
    sql(pg_url, f"UPDATE {schema}.workflows SET executor_id = 'ghost', epoch = 1, "
                "lease_expires_at = now() + interval '1 hour', owner_locked = true "
                "WHERE workflow_id = 'orphan'")  # fmt: skip
    lock = SessionLock(rt._db, schema, "claimer", probe_s=0.2)
    lock.start()
    asked: list[bool] = []

    def trust_then_cut() -> bool:
        """Trusts on the first attempt, whose connection it cuts; not on the retry."""
        if not asked:
            sql(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s", (rt.store.db.application_name,))  # fmt: skip
        asked.append(not asked)
        return asked[-1]

    try:
        claimed = rt.store.claim("claimer", names=["child_work"], held=[], limit=5, lease_s=30.0,
                                 max_recovery_attempts=10, detect=trust_then_cut,
                                 locked=True)  # fmt: skip
        assert asked == [True, False], "the retry did not ask again"
        assert claimed == [], "the retry acted on the trust of the attempt before the outage"
    finally:
        lock.stop()


def test_a_claim_made_without_the_lock_is_not_taken_for_dead_when_the_key_is_free(
    make_runtime: RuntimeFactory, tmp_path: Path, pg_url: str, schema: str
) -> None:
    """A worker restarted while its predecessor's session lingers claims in state ``elsewhere``;
    when that session ends, the key is free until the new worker's next probe takes it. A peer
    that trusts missing locks must not take the claim over in that gap (the soak's false
    takeover), and may again once a renewal made while holding the lock recorded it."""
    rt = make_runtime("w-pod", poll_s=0.05, heartbeat_s=0.1)
    liveness = rt._worker._liveness
    liveness.start = lambda: None  # type: ignore[method-assign]  # nobody takes the key: the gap
    liveness._set("elsewhere")  # as if the predecessor's session still held it
    stop = threading.Event()
    thread = threading.Thread(target=rt.run_worker, args=(stop,), daemon=True)
    thread.start()
    peer = make_runtime("w-peer")
    lock = SessionLock(peer._db, schema, "w-peer", probe_s=0.2)
    lock.start()
    try:
        assert lock.trusts_absence
        peer.start_workflow(apps.gated, str(tmp_path), workflow_id="fresh")
        wait_for(lambda: _owner(peer, "fresh") == ("w-pod", 1), 15, "w-pod's claim")
        assert _lock_pids(pg_url, schema, "w-pod") == []  # the predecessor's session is gone
        claim = dict(executor_id="w-peer", names=["gated"], held=[], limit=5, lease_s=30.0,
                     max_recovery_attempts=10, detect=True, locked=True)  # fmt: skip
        assert peer.store.claim(**claim) == [], "w-pod is alive: it claimed without its lock"
        time.sleep(0.5)  # five renewals, all made without the lock: still not a death
        assert peer.store.claim(**claim) == []
        liveness._set("held")  # its renewals now record the lock: its absence means death
        taken: list = []
        wait_for(lambda: taken.extend(peer.store.claim(**claim)) or taken, 15, "the takeover")
        assert [(c.workflow_id, c.epoch, c.reason) for c in taken] == [
            ("fresh", 2, "session_ended")]  # fmt: skip
    finally:
        (tmp_path / "go").touch()
        lock.stop()
        stop.set()
        thread.join(timeout=5)


def test_a_restarted_worker_takes_its_own_lock_again_and_recovers_its_workflow(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path, pg_url: str, schema: str
) -> None:
    """The ``restart`` recovery policy: a new process with the dead one's executor id."""
    client = make_runtime("client")
    first = spawn_worker("w-pod", *LONG_LEASE)
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="restarted")
    wait_for(lambda: _started(tmp_path, "s2-start", "w-pod"), 15, "step 2 to start")
    (old_pid,) = _lock_pids(pg_url, schema, "w-pod")
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    second = spawn_worker("w-pod", *LONG_LEASE)
    wait_for(lambda: _lock_pids(pg_url, schema, "w-pod") not in ([], [old_pid]), 15,
             "the restarted worker to take its lock")  # fmt: skip
    wait_for(lambda: _owner(client, "restarted") == ("w-pod", 2), 15, "the recovery")
    wait_for(lambda: "(epoch 2, own from w-pod)" in second.stderr(), 10,
             "the restarted worker's claim log")  # fmt: skip
    assert "held by another session" not in second.stderr()
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "s2", "s3", "w-pod"]
    assert [(c.epoch, c.executor_id, c.previous_owner, c.reason)
            for c in client.list_claims("restarted")] == [
        (1, "w-pod", None, "unowned"), (2, "w-pod", "w-pod", "own")]  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "lease", "reason"),
    [("down", LEASE_S, "session_ended"), ("timeout", 1.5, "lease_expired")],
    ids=["proxy-down-closes-the-session", "black-hole-keeps-the-session"],
)
def test_a_partitioned_worker_is_taken_over_and_fenced(
    make_runtime: RuntimeFactory, tmp_path: Path, pg_url: str, schema: str,
    mode: str, lease: float, reason: str,
) -> None:  # fmt: skip
    """The worker reaches Postgres through a Toxiproxy link, the standby directly. A disabled
    proxy closes the worker's sessions (its lock goes: taken over at once); a black hole keeps
    them open (its lock stays: the lease decides). Either way its late writes are fenced."""
    timing = ["--lease", str(lease), "--heartbeat", str(min(1.0, lease / 5)), "--poll", "0.1"]
    pg = conninfo_to_dict(pg_url)
    client = make_runtime("client")
    with toxiproxy_server(f"rt-{uuid.uuid4().hex[:6]}") as server, server.client() as toxiproxy:
        link = toxiproxy.create_proxy(f"rt_pg_{uuid.uuid4().hex[:6]}", "127.0.0.1:0",
                                      f"{pg.get('host') or '127.0.0.1'}:{pg.get('port') or 5432}")
        proxied = make_conninfo(pg_url, host=link.listen_host, port=str(link.listen_port))
        with WorkerProcess(proxied, schema, "w-cut", tmp_path, *timing) as cut:
            handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="cut")
            wait_for(lambda: _started(tmp_path, "s2-start", "w-cut"), 15, "step 2 to start")
            with WorkerProcess(pg_url, schema, "w-direct", tmp_path, *timing) as direct:
                with _partition(toxiproxy, link.name, mode):
                    wait_for(lambda: _owner(client, "cut") == ("w-direct", 2), 30, "the takeover")
                    wait_for(lambda: _started(tmp_path, "s2-start", "w-direct"), 15,
                             "the new owner's step 2")  # fmt: skip
                wait_for(lambda: f"(epoch 2, {reason} from w-cut)" in direct.stderr(), 10,
                         "the new owner's claim log")  # fmt: skip
                (tmp_path / "go").touch()
                assert handle.result(timeout=30) == ["s1", "s2", "s3", "w-direct"]
                wait_for(lambda: "cut epoch 1 fenced, abandoned" in cut.stderr(), 60,
                         "the cut-off worker's late step write to be fenced")  # fmt: skip
                assert cut.proc is not None and cut.proc.poll() is None
    steps = client.list_steps("cut")
    assert [(s.seq, s.executor_id, s.epoch) for s in steps] == [
        (0, "w-cut", 1),
        (1, "w-direct", 2),
        (2, "w-direct", 2),
    ]


@contextlib.contextmanager
def _partition(toxiproxy: ToxiproxyClient, proxy: str, mode: str) -> Iterator[None]:
    if mode == "down":
        with toxiproxy.disabled(proxy):
            yield
        return
    with toxiproxy.toxic(proxy, "timeout", stream="upstream", timeout=0), \
            toxiproxy.toxic(proxy, "timeout", stream="downstream", timeout=0):  # fmt: skip
        yield
