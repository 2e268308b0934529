"""The fork server: workers forked from a pre-imported interpreter are processes of their own.

The probe module is written to a temporary directory the test runs from (the server looks modules
up from its working directory, as ``python -m`` does)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.env.forkserver import ENV_FORKSERVER, ForkServer
from harness.env.local import LocalEnvironment

PROBE = r'''
import atexit, json, os, sys, threading, time
mode = sys.argv[1]
if mode == "report":
    atexit.register(lambda: print("atexit ran", flush=True))
    def late():
        time.sleep(0.3)
        print("thread finished", flush=True)
    threading.Thread(target=late).start()
    print(json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "pgrp": os.getpgrp(),
                      "argv": sys.argv, "orig_argv": sys.orig_argv,
                      "probe": os.environ.get("PROBE"),
                      "name": __name__, "preloaded": "psycopg" in sys.modules,
                      "stdin": sys.stdin.read()}), flush=True)
    sys.exit(3)
if mode == "sleep":
    print("sleeping", flush=True)
    time.sleep(600)
if mode == "raise":
    raise ValueError("probe failed on purpose")
'''


@pytest.fixture
def probe_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "fs_probe.py").write_text(PROBE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def server(probe_dir: Path) -> Iterator[ForkServer]:
    with ForkServer(probe_dir, dict(os.environ)) as fork_server:
        yield fork_server


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _wait_line(path: Path, text: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} never reached {path}"
        time.sleep(0.02)


def test_a_forked_worker_is_a_process_of_its_own(server: ForkServer, probe_dir: Path) -> None:
    log = probe_dir / "report.log"
    env = {**os.environ, "PROBE": "from the request"}
    process = server.spawn([sys.executable, "-m", "fs_probe", "report", "x y"], env, log)
    assert process is not None, server.refused
    assert process.wait(30) == 3
    lines = log.read_text().splitlines()
    report = json.loads(lines[0])
    assert report["pid"] == process.pid == report["sid"] == report["pgrp"]
    assert report["argv"][1:] == ["report", "x y"]
    assert report["argv"][0].endswith("fs_probe.py")
    assert report["orig_argv"] == [sys.executable, "-m", "fs_probe", "report", "x y"]
    assert report["probe"] == "from the request"
    assert report["name"] == "__main__"
    assert report["preloaded"], "psycopg was imported by the server, not again by the worker"
    assert report["stdin"] == "", "stdin is /dev/null"
    # As the interpreter ends a process: threads joined, then the atexit hooks.
    assert lines[1:] == ["thread finished", "atexit ran"]


def test_its_signals_and_exit_status_are_the_kernels(server: ForkServer, probe_dir: Path) -> None:
    log = probe_dir / "sleep.log"
    process = server.spawn([sys.executable, "-m", "fs_probe", "sleep"], dict(os.environ), log)
    assert process is not None, server.refused
    _wait_line(log, "sleeping")
    assert process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(30) == -signal.SIGKILL
    assert process.poll() == -signal.SIGKILL


def test_an_exception_is_shown_in_its_log_and_exits_1(server: ForkServer, probe_dir: Path) -> None:
    log = probe_dir / "raise.log"
    process = server.spawn([sys.executable, "-m", "fs_probe", "raise"], dict(os.environ), log)
    assert process is not None, server.refused
    assert process.wait(30) == 1
    assert "ValueError: probe failed on purpose" in log.read_text()


def test_what_a_fresh_interpreter_would_run_differently_is_not_forked(
    server: ForkServer, probe_dir: Path
) -> None:
    log = probe_dir / "no.log"
    env = dict(os.environ)
    assert server.spawn([sys.executable, "-c", "pass"], env, log) is None
    assert server.spawn(["/usr/bin/python3", "-m", "fs_probe", "report"], env, log) is None
    assert server.spawn([sys.executable, "-m", "fs_probe", "report"],
                        {**env, "PYTHONPATH": "/elsewhere"}, log) is None  # fmt: skip
    assert server.refused is None


def test_closing_the_server_kills_what_it_forked(probe_dir: Path) -> None:
    log = probe_dir / "left.log"
    with ForkServer(probe_dir, dict(os.environ)) as server:
        process = server.spawn([sys.executable, "-m", "fs_probe", "sleep"], dict(os.environ), log)
        assert process is not None, server.refused
        _wait_line(log, "sleeping")
        pid = process.pid
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _gone(pid)


@pytest.mark.parametrize("setting", ["on", "off"])
def test_the_local_environment_forks_its_workers_unless_told_not_to(
    setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_FORKSERVER, setting)
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"]
    with LocalEnvironment(run_id=f"fork-{setting}") as env:
        worker = env.start_worker("h", "h", argv, wait_ready=False)
        assert worker.forked is (setting == "on")
        _wait_line(worker.log_path, "Serving HTTP")
        assert os.getsid(worker.pid) == worker.pid
        worker.signal(signal.SIGKILL)
        assert worker.wait(30) == -signal.SIGKILL


def test_ps_shows_a_forked_worker_s_own_command_line(server: ForkServer, probe_dir: Path) -> None:
    log = probe_dir / "title.log"
    process = server.spawn([sys.executable, "-m", "fs_probe", "sleep"], dict(os.environ), log)
    assert process is not None, server.refused
    _wait_line(log, "sleeping")
    shown = Path(f"/proc/{process.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert [a.decode() for a in shown] == [sys.executable, "-m", "fs_probe", "sleep"]
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    assert os.environ["PATH"].encode() in environ, "its environment area is left alone"
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(30) == -signal.SIGKILL
