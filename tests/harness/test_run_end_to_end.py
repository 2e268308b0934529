"""End to end: a real ``pytest scenarios/test_kill.py`` run, ended by SIGTERM or SIGKILL mid-trial,
leaves no process, listening socket, cgroup or temp file of its run behind.

Each run has its own ``--run-id``; only that id is ever looked for or swept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.env.sweep import Leftovers, find_leftovers

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _listening_inodes(pids: list[int]) -> set[str]:
    """Socket inodes of ``pids`` that are in LISTEN state (TCP, v4 and v6)."""
    owned: set[str] = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        owned |= {link[8:-1] for link in links if link.startswith("socket:[")}
    return owned & _all_listening()


def _all_listening() -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    inodes.add(fields[9])
    return inodes


def _start_run(run_id: str, tmp_path: Path, xdist: list[str]) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "pytest.log", "wb")  # noqa: SIM115 - closed with the test's tmp dir
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "scenarios/test_kill.py", "-k", "test_kill_recovers",
         "--sut", "reference", "--run-id", run_id, "--results", str(tmp_path / "results.jsonl"),
         "-p", "no:cacheprovider", "-q", *xdist],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "DURABENCH_RUN_ID"},
    )  # fmt: skip


XDIST = pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["plain", "xdist"])


def _wait_for_workers(run: subprocess.Popen[bytes], run_id: str, tmp_path: Path) -> Leftovers:
    """Block until the run has Postgres, the provider and a worker up (a trial is under way)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        found = find_leftovers(run_id, docker=False)
        commands = " | ".join(command for _, _, command in found.processes)
        wanted = ("postgres", "harness.llm", "harness.sut.reference.worker")
        if all(part in commands for part in wanted):
            return found
        if run.poll() is not None:
            break
        time.sleep(0.1)
    run.kill()
    pytest.fail(f"the run never got a worker up:\n{(tmp_path / 'pytest.log').read_text()}")


def _assert_nothing_left(run_id: str, pids: list[int], sockets: set[str]) -> None:
    left = find_leftovers(run_id, docker=False)
    assert not len(left), list(left.lines())
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, f"processes of run {run_id} still alive: {alive}"
    assert not sockets & _all_listening(), "listening sockets of the run remain"


def _wait_swept(run_id: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(find_leftovers(run_id, docker=False)) and time.monotonic() < deadline:
        time.sleep(0.2)


@XDIST
def test_sigterm_mid_trial_tears_the_run_down(tmp_path: Path, xdist: list[str]) -> None:
    run_id = f"e2e-term-{uuid.uuid4().hex[:8]}"
    run = _start_run(run_id, tmp_path, xdist)
    found = _wait_for_workers(run, run_id, tmp_path)
    pids = [pid for pid, _, _ in found.processes]
    sockets = _listening_inodes(pids)
    assert sockets, "the run's servers should be listening"
    run.send_signal(signal.SIGTERM)
    code = run.wait(timeout=180)
    log = (tmp_path / "pytest.log").read_text()
    assert code == pytest.ExitCode.INTERRUPTED, log
    # A plain run tore down before it exited; under xdist, a worker that the controller did not
    # wait for is swept by its watchdog when it dies. Either way: gone within the bound.
    _wait_swept(run_id)
    _assert_nothing_left(run_id, pids, sockets)


@XDIST
def test_sigkill_mid_trial_is_swept(tmp_path: Path, xdist: list[str]) -> None:
    run_id = f"e2e-kill-{uuid.uuid4().hex[:8]}"
    run = _start_run(run_id, tmp_path, xdist)
    found = _wait_for_workers(run, run_id, tmp_path)
    pids = [pid for pid, _, _ in found.processes]
    sockets = _listening_inodes(pids)
    run.kill()
    run.wait(timeout=30)
    _wait_swept(run_id)  # the run's watchdogs sweep by themselves (xdist workers die with pytest)
    _assert_nothing_left(run_id, pids, sockets)
    swept = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", "--run-id", run_id],
                           cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    assert f"removed 0 item(s) of run {run_id}" in swept.stdout
