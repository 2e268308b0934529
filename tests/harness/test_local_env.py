"""The local environment: real Postgres, a real provider process, real worker process groups."""

from __future__ import annotations

import os
import signal
import sys
import time

import psycopg
import pytest

from harness.env.local import EnvironmentStartError, LocalEnvironment


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_environment_starts_parts_and_tears_everything_down() -> None:
    with LocalEnvironment(run_id="envtest") as env:
        work_dir = env.work_dir
        assert "envtest" in work_dir.name
        url = env.create_database("one trial")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0].startswith("t_one_trial")
        assert env.provider_client().healthy()
        sleeper = env.start_worker(
            "sleeper", "sleeper", [sys.executable, "-c",
                                   "print('worker sleeper ready', flush=True); "
                                   "import time; time.sleep(600)"],
        )
        assert sleeper.alive and os.getpgid(sleeper.pid) == sleeper.pid
        pid = sleeper.pid
    assert not _alive(pid)
    assert not work_dir.exists()


def test_teardown_runs_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), LocalEnvironment(run_id="raise") as env:
        worker = env.start_worker("w", "w", [sys.executable, "-c",
                                             "print('worker w ready', flush=True); "
                                             "import time; time.sleep(600)"])
        pid, work_dir = worker.pid, env.work_dir
        raise RuntimeError("boom")
    assert not _alive(pid)
    assert not work_dir.exists()


def test_a_worker_that_dies_before_ready_shows_its_log() -> None:
    with LocalEnvironment(run_id="dies") as env, pytest.raises(EnvironmentStartError) as info:
        env.start_worker("bad", "bad", [sys.executable, "-c",
                                        "import sys; print('no such app: x.y'); sys.exit(2)"])
    assert "exited with code 2" in str(info.value)
    assert "no such app: x.y" in str(info.value)


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting to be reaped: either way it runs no more."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:\tZ") for line in status)
    except FileNotFoundError:
        return True


def test_a_killed_group_includes_children() -> None:
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
            "print('child', p.pid, flush=True); "
            "print('worker g ready', flush=True); time.sleep(600)")
    with LocalEnvironment(run_id="group") as env:
        worker = env.start_worker("g", "g", [sys.executable, "-c", code])
        child = int(worker.tail().split("child ", 1)[1].split()[0])
        assert not _dead(child)
        worker.signal(signal.SIGKILL)
        assert worker.wait(5.0) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while not _dead(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _dead(child), "the grandchild was in the group, so SIGKILL reached it too"
