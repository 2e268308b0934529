"""Worker subprocesses under real signals: recovery on start, lease takeover, fencing of a zombie,
dead letters, graceful SIGTERM, and the CLI's bad --app error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rt_support import ROOT, RuntimeFactory, WorkerProcess, read_log, wait_for

from reference_runtime import DeadLetterError
from tests.reference_runtime import apps

Spawn = Callable[..., WorkerProcess]
SHORT_LEASE = ["--lease", "1.5", "--heartbeat", "0.3", "--poll", "0.2"]
LONG_LEASE = ["--lease", "30", "--heartbeat", "1", "--poll", "0.1"]


def _owner(client_rt: object, wid: str) -> tuple[str | None, int]:
    info = client_rt.get_workflow(wid)  # type: ignore[attr-defined]
    return (None, 0) if info is None else (info.executor_id, info.epoch)


def _started(path: Path, label: str, executor: str) -> bool:
    return any(entry[:2] == [label, executor] for entry in read_log(path))


@pytest.mark.parametrize("checkpointing", [True, False], ids=["checkpointing", "no-checkpointing"])
def test_a_restarted_worker_recovers_its_pending_workflows(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path, checkpointing: bool
) -> None:
    extra = LONG_LEASE + ([] if checkpointing else ["--no-checkpointing"])
    client = make_runtime("client")
    first = spawn_worker("w-pod", *extra)
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="recover")
    wait_for(lambda: _started(tmp_path, "s2-start", "w-pod"), 15, "step 2 to start")
    first.signal(signal.SIGKILL)
    first.wait(timeout=10)
    (tmp_path / "go").touch()
    restarted_at = time.monotonic()
    spawn_worker("w-pod", *extra)  # same executor id: a pod restart
    assert handle.result(timeout=20)[:3] == ["s1", "s2", "s3"]
    assert time.monotonic() - restarted_at < 10  # far less than the 30 s lease
    log = read_log(tmp_path)
    info = client.get_workflow("recover")
    assert info is not None and info.status == "SUCCESS" and info.epoch == 2
    assert info.recovery_attempts == 1
    steps = client.list_steps("recover")
    if checkpointing:
        assert [e for e in log if e[0] == "s1"] == [["s1", "w-pod", "1"]]  # replayed, not rerun
        assert [(s.seq, s.name, s.epoch) for s in steps] == [
            (0, "mark", 1),
            (1, "gate", 2),
            (2, "mark", 2),
        ]
    else:
        assert [e for e in log if e[0] == "s1"] == [["s1", "w-pod", "1"], ["s1", "w-pod", "2"]]
        assert steps == []


def test_a_live_worker_takes_over_an_expired_lease(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    client = make_runtime("client")
    workers = {w: spawn_worker(w, *SHORT_LEASE) for w in ("w-a", "w-b")}
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="takeover")
    owner = wait_for(
        lambda: next((w for w in workers if _started(tmp_path, "s2-start", w)), None),
        15,
        "a worker to start step 2",
    )
    survivor = next(w for w in workers if w != owner)
    time.sleep(2 * 1.5)  # two leases: heartbeats keep the live owner's lease from expiring
    assert _owner(client, "takeover") == (owner, 1)
    workers[owner].signal(signal.SIGKILL)
    killed_at = time.monotonic()
    workers[owner].wait(timeout=10)
    wait_for(lambda: _owner(client, "takeover") == (survivor, 2), 10, "the takeover")
    took = time.monotonic() - killed_at
    assert took <= 1.5 + 0.2 + 1.0, f"takeover took {took:.2f}s"
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "s2", "s3", survivor]
    assert [e for e in read_log(tmp_path) if e[0] == "s1"] == [["s1", owner, "1"]]


def test_a_paused_zombie_is_fenced_and_the_new_owner_outcome_stands(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    client = make_runtime("client")
    zombie = spawn_worker("w-zombie", *SHORT_LEASE)
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="zombie-wf")
    wait_for(lambda: _started(tmp_path, "s2-start", "w-zombie"), 15, "step 2 to start")
    zombie.signal(signal.SIGSTOP)
    try:
        spawn_worker("w-live", *SHORT_LEASE)
        wait_for(lambda: _owner(client, "zombie-wf") == ("w-live", 2), 10, "the takeover")
        (tmp_path / "go").touch()
        assert handle.result(timeout=15) == ["s1", "s2", "s3", "w-live"]
    finally:
        zombie.signal(signal.SIGCONT)
    # The zombie wakes, finishes its step 2 and tries to record it: refused.
    wait_for(lambda: _started(tmp_path, "s2-done", "w-zombie"), 10, "the zombie to resume")
    wait_for(
        lambda: "zombie-wf epoch 1 fenced, abandoned" in zombie.stderr(),
        10,
        "the zombie's write to be fenced",
    )
    assert zombie.proc is not None and zombie.proc.poll() is None  # alive, just fenced
    info = client.get_workflow("zombie-wf")
    assert info is not None
    assert (info.status, info.epoch, info.executor_id) == ("SUCCESS", 2, "w-live")
    assert info.output == ["s1", "s2", "s3", "w-live"]
    steps = client.list_steps("zombie-wf")
    assert [(s.seq, s.executor_id, s.epoch) for s in steps] == [
        (0, "w-zombie", 1),
        (1, "w-live", 2),
        (2, "w-live", 2),
    ]
    assert not _started(tmp_path, "s3", "w-zombie")


def test_a_workflow_that_keeps_crashing_is_dead_lettered(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    extra = [*LONG_LEASE, "--max-recovery-attempts", "2"]
    client = make_runtime("client")
    handle = client.start_workflow(apps.crash_loop, str(tmp_path), workflow_id="crashy")
    for _ in range(3):  # the first execution, then two recoveries: each kills its worker
        assert spawn_worker("w-crash", *extra).wait(timeout=20) == -signal.SIGKILL
    last = spawn_worker("w-crash", *extra)
    with pytest.raises(DeadLetterError, match="crashy"):
        handle.result(timeout=10)
    info = client.get_workflow("crashy")
    assert info is not None and info.status == "DEAD_LETTER" and info.recovery_attempts == 3
    assert (info.outcome_epoch, info.outcome_executor) == (info.epoch, "w-crash")
    assert [e[0] for e in read_log(tmp_path)] == ["s1", "die", "die", "die"]
    assert last.proc is not None and last.proc.poll() is None


def test_sigterm_releases_leases_so_another_worker_claims_at_once(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    client = make_runtime("client")
    leaving = spawn_worker("w-leaving", *LONG_LEASE, "--grace", "1")
    handle = client.start_workflow(apps.gated, str(tmp_path), workflow_id="evicted")
    wait_for(lambda: _started(tmp_path, "s2-start", "w-leaving"), 15, "step 2 to start")
    spawn_worker("w-staying", *LONG_LEASE)
    leaving.signal(signal.SIGTERM)
    sent_at = time.monotonic()
    assert leaving.wait(timeout=10) == 0
    wait_for(lambda: _owner(client, "evicted") == ("w-staying", 2), 5, "the claim after release")
    assert time.monotonic() - sent_at < 1 + 0.1 + 2.0  # grace + poll + tolerance << 30 s lease
    assert "released leases" in leaving.stderr()
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "s2", "s3", "w-staying"]


@pytest.mark.parametrize(
    ("app_path", "named"),
    [
        ("nosuch_module_xyz:app", "nosuch_module_xyz"),
        ("tests.reference_runtime.apps:COUNTS", "not a reference_runtime.App"),
        ("no-colon", "module:attribute"),
    ],
)
def test_a_bad_app_path_is_a_clear_error(pg_url: str, app_path: str, named: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "reference_runtime", "worker", "--dsn", pg_url, "--app", app_path],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert named in proc.stderr and app_path in proc.stderr
    assert "ready" not in proc.stdout
