"""Nothing outlives a run: real environments in a real child process, ended by real signals.

Each test owns a fresh run id (``lt-<random>``) and only ever looks for, or sweeps, that id:
other runs on this machine are none of its business.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.env.cgroups import CgroupUnavailable, memory_cgroup
from harness.env.created import creation_record_path, temp_dir, temp_file
from harness.env.sweep import Leftovers, find_leftovers

REPO = Path(__file__).resolve().parents[2]

# A run owner: starts the local environment and a worker (in a memory cgroup when this host has
# one), reports what it started on one JSON line, then waits to be signalled.
_OWNER = r"""
import json, sys, time
from harness.env.local import LocalEnvironment
from harness.env.cgroups import CgroupUnavailable, memory_cgroup
run_id = sys.argv[1]
try:
    memory_cgroup("probe-" + run_id, 1 << 30).create().remove()
    limit = 256
except CgroupUnavailable:
    limit = None
with LocalEnvironment(run_id=run_id) as env:
    worker = env.start_worker("w", "w", [sys.executable, "-c",
        "print('worker w ready', flush=True); import time; time.sleep(600)"],
        memory_limit_mb=limit)
    forked = env.start_worker("f", "f", [sys.executable, "-m", "http.server", "--bind",
                                         "127.0.0.1", "0"], wait_ready=False)
    assert forked.forked, "a -m worker comes from the run's fork server"
    cgroup = str(worker.cgroup.path) if worker.cgroup else None
    print(json.dumps({"worker": worker.pid, "forked": forked.pid, "work_dir": str(env.work_dir),
                      "cgroup": cgroup, "watchdog": env.lifeline.watchdog_pid}), flush=True)
    while True:
        time.sleep(1)
"""


def _new_run_id() -> str:
    return f"lt-{uuid.uuid4().hex[:10]}"


def _start_owner(run_id: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, run_id], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if not line:
        owner.wait(30)
        pytest.fail(f"the run owner died before starting: {owner.stderr.read()}")  # type: ignore[union-attr]
    return owner, json.loads(line)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait_gone(run_id: str, timeout_s: float = 180.0) -> Leftovers:
    """Poll until nothing of ``run_id`` is left; a bound for a failure message, not a timing."""
    deadline = time.monotonic() + timeout_s
    found = find_leftovers(run_id, docker=False)
    while len(found) and time.monotonic() < deadline:
        time.sleep(0.2)
        found = find_leftovers(run_id, docker=False)
    return found


def _check_started(run_id: str, started: dict[str, object]) -> list[int]:
    found = find_leftovers(run_id, docker=False)
    commands = " | ".join(command for _, _, command in found.processes)
    assert "postgres" in commands and "harness.llm" in commands, commands
    assert int(str(started["worker"])) in {pid for pid, _, _ in found.processes}
    assert int(str(started["forked"])) in {pid for pid, _, _ in found.processes}
    assert Path(str(started["work_dir"])) in found.paths
    return [pid for pid, _, _ in found.processes]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signalled_owner_tears_down_like_ctrl_c(signum: signal.Signals) -> None:
    run_id = _new_run_id()
    owner, started = _start_owner(run_id)
    pids = _check_started(run_id, started)
    owner.send_signal(signum)
    _, stderr = owner.communicate(timeout=120)
    assert "KeyboardInterrupt" in stderr, stderr
    # The owner's own teardown, finished before it exited: nothing left, no sweep needed.
    left = find_leftovers(run_id, docker=False)
    assert not len(left), list(left.lines())
    assert not any(_alive(pid) for pid in pids)
    assert started["cgroup"] is None or not Path(str(started["cgroup"])).exists()


def test_a_sigkilled_owner_is_swept_by_its_watchdog() -> None:
    run_id = _new_run_id()
    owner, started = _start_owner(run_id)
    pids = _check_started(run_id, started)
    owner.kill()
    owner.wait(30)
    left = _wait_gone(run_id)
    assert not len(left), list(left.lines())
    assert not any(_alive(pid) for pid in pids)
    assert not Path(str(started["work_dir"])).exists()
    assert started["cgroup"] is None or not Path(str(started["cgroup"])).exists()
    watchdog, deadline = int(str(started["watchdog"])), time.monotonic() + 30
    while _alive(watchdog) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(watchdog), "the watchdog outlived its sweep"


def _durabench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _leave_litter(run_id: str, tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path | None]:
    """What a SIGKILLed run without a watchdog leaves: a labelled process, a temp dir, a cgroup."""
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             env=dict(os.environ, DURABENCH_RUN_ID=f"{run_id}-gw0"),
                             start_new_session=True)  # fmt: skip
    litter = temp_dir(run_id, f"durabench-{run_id}-", dir=tmp)  # as a run makes its dirs
    (litter / "ledger.jsonl").write_text("{}\n")
    try:
        cgroup: Path | None = memory_cgroup(f"{run_id}-w", 64 << 20, run_id=run_id).create().path
    except CgroupUnavailable:
        cgroup = None
    return stray, litter, cgroup


def test_sweep_dry_run_lists_and_sweep_removes_one_run(tmp_path: Path) -> None:
    import tempfile

    run_id = _new_run_id()
    stray, litter, cgroup = _leave_litter(run_id, Path(tempfile.gettempdir()))
    try:
        dry = _durabench("sweep", "--run-id", run_id, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert f"process {stray.pid}" in dry.stdout and str(litter) in dry.stdout
        assert cgroup is None or str(cgroup) in dry.stdout
        assert stray.poll() is None and litter.exists()  # a dry run removes nothing
        swept = _durabench("sweep", "--run-id", run_id)
        assert swept.returncode == 0, swept.stderr
        assert stray.wait(10) == -signal.SIGKILL
        assert not litter.exists()
        assert cgroup is None or not cgroup.exists()
        assert not len(find_leftovers(run_id, docker=False))
    finally:
        stray.kill()


def test_a_sweep_removes_what_a_run_created_and_leaves_a_users_files_alone() -> None:
    """Names prove nothing: a user's ``durabench-*`` entries, one even carrying the run's id,
    sit beside the run's recorded leftovers. The sweep of the run and the look of a sweep of every
    dead run take the run's entries and none of the user's (issue 22)."""
    import tempfile

    run_id = _new_run_id()
    tmp = Path(tempfile.gettempdir())
    mark = uuid.uuid4().hex[:8]
    users = [tmp / f"durabench-results-{mark}", tmp / f"durabench-notes-{mark}.txt",
             tmp / f"durabench-{run_id}-mine"]
    users[0].mkdir()
    (users[0] / "results.jsonl").write_text("{}\n")
    users[1].write_text("notes\n")
    users[2].write_text("mine\n")
    run_dir = temp_dir(run_id, f"durabench-{run_id}-")
    (run_dir / "worker.log").write_text("log\n")
    handle, run_file = temp_file(run_id, f"durabench-{run_id}-ledger-", ".jsonl")
    os.close(handle)
    try:
        every_dead_run = find_leftovers(None, docker=False).paths
        assert {run_dir, run_file} <= set(every_dead_run)
        assert not set(users) & set(every_dead_run)
        swept = _durabench("sweep", "--run-id", run_id)
        assert swept.returncode == 0, swept.stderr
        assert not run_dir.exists() and not run_file.exists()
        assert not creation_record_path(run_id).exists()
        assert all(path.exists() for path in users)
        assert (users[0] / "results.jsonl").read_text() == "{}\n"
    finally:
        for path in users:
            if path.is_dir():
                (path / "results.jsonl").unlink(missing_ok=True)
                path.rmdir()
            else:
                path.unlink(missing_ok=True)


def test_a_clean_run_forgets_its_creation_record() -> None:
    from harness.env.lifetime import Lifeline

    run_id = _new_run_id()
    with Lifeline(run_id):
        made = temp_dir(run_id, f"durabench-{run_id}-")
        assert creation_record_path(run_id).exists()
        made.rmdir()  # the run's own teardown
    assert not creation_record_path(run_id).exists()


def test_sweep_refuses_a_live_run() -> None:
    from harness.env.lifetime import Lifeline

    run_id = _new_run_id()
    with Lifeline(run_id):
        refused = _durabench("sweep", "--run-id", run_id)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0
    assert f"run {run_id} is still running" in refused.stderr


def test_sweep_rejects_a_malformed_run_id() -> None:
    bad = _durabench("sweep", "--run-id", "a")
    assert bad.returncode == 2 and "not a run id" in bad.stderr


_DOCKER_OWNER = r"""
import json, sys, time
from harness.env.docker import DockerEnvironment
with DockerEnvironment(run_id=sys.argv[1]) as env:
    print(json.dumps({"work_dir": str(env.work_dir)}), flush=True)
    while True:
        time.sleep(1)
"""


@pytest.mark.slow
def test_a_sigkilled_docker_run_is_swept_by_its_watchdog() -> None:
    from harness.env.docker import docker_available
    from harness.require import skip_or_fail

    reason = docker_available()
    if reason is not None:
        skip_or_fail("docker", reason)
    run_id = _new_run_id()
    owner = subprocess.Popen([sys.executable, "-c", _DOCKER_OWNER, run_id], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert owner.stdout is not None
    line = owner.stdout.readline()
    if not line:
        owner.wait(60)
        pytest.fail(f"the docker run never started: {owner.stderr.read()}")  # type: ignore[union-attr]
    found = find_leftovers(run_id)
    assert len(found.containers) >= 3 and found.networks, list(found.lines())
    owner.kill()
    owner.wait(30)
    deadline = time.monotonic() + 180  # a bound for the failure message, not a timing target
    while len(find_leftovers(run_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = find_leftovers(run_id)
    assert not len(left), list(left.lines())


def test_only_a_dead_owner_in_this_pid_namespace_makes_containers_orphaned() -> None:
    """An engine may serve other sandboxes too: their pids mean nothing here, so their
    containers are never swept as orphans (a concurrent run's containers vanished that way)."""
    from harness.env.docker import (
        HOST_LABEL,
        OWNER_LABEL,
        OWNER_START_LABEL,
        orphaned,
        owner_labels,
    )

    mine = owner_labels("lt-orphan")
    assert not orphaned(mine), "a live owner's containers are not orphans"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert orphaned({**mine, OWNER_LABEL: str(dead.pid)}), "a dead owner's containers are"
    assert orphaned({**mine, OWNER_START_LABEL: "1"}), "a reused pid is not the owner"
    elsewhere = {**mine, OWNER_LABEL: str(dead.pid), HOST_LABEL: mine[HOST_LABEL] + "0"}
    assert not orphaned(elsewhere), "another sandbox's (or host's) run is not ours to judge"
    legacy = {**mine, OWNER_LABEL: str(dead.pid), HOST_LABEL: socket.gethostname()}
    assert not orphaned(legacy), "a label without the pid namespace is not judged"


@pytest.mark.slow
def test_a_sweep_survives_containers_removed_while_it_lists_them() -> None:
    """Two runs starting together both sweep a crashed run's containers: one removes what the
    other is listing, and neither may fail for it (CI's docker stage once lost every test so)."""
    from harness.env.docker import LABEL, OWNER_LABEL, docker_available, owner_labels, sweep
    from harness.images import BASE_IMAGE
    from harness.require import skip_or_fail

    reason = docker_available()
    if reason is not None:
        skip_or_fail("docker", reason)
    import docker

    client = docker.from_env(timeout=30)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    labels = {**owner_labels(_new_run_id()), OWNER_LABEL: str(dead.pid)}
    errors: list[BaseException] = []

    def other_run(made: list[Any]) -> None:  # oldest first: the ones a listing reads last
        for container in made:
            with contextlib.suppress(docker.errors.APIError):  # gone, or going
                container.remove(force=True)

    for _ in range(3):
        made = [client.containers.create(BASE_IMAGE, ["true"], labels=labels) for _ in range(16)]
        remover = threading.Thread(target=other_run, args=(made,))
        remover.start()
        try:
            sweep(docker.from_env(timeout=30))
        except Exception as exc:
            errors.append(exc)
        remover.join(120)
    left = client.containers.list(all=True, filters={"label": f"{LABEL}={labels[LABEL]}"})
    for container in left:
        container.remove(force=True)
    assert not errors, errors
    assert not left
