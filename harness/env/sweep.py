"""Find and remove what a run left behind: processes, cgroups, temp files, containers.

Only what a run of durabench provably created is ever removed, never anything found by its name
alone (a user's ``/tmp/durabench-results/`` stays):

- processes: ``DURABENCH_RUN_ID=<run id>`` in their environment, which the harness sets when it
  starts them (workers, the provider, Toxiproxy, every Postgres process; children inherit it);
- temp files and dirs, and memory cgroups: the paths the run's **creation record** lists
  (:mod:`harness.env.created`: written as each is made), and only while the entry's name still
  carries that run id;
- Docker containers and networks: label ``durabench.run_id=<run id>``, set when they are created;
- the run's records themselves (``<tmp>/durabench-runs/<run id>.json`` / ``.created``).

A run id matches itself and its pytest-xdist workers' ids (``<run id>-gw0``, ``<run id>-main``).
:func:`find_leftovers` only looks; :func:`sweep` kills the processes (SIGKILL, after SIGCONT for
stopped ones), then removes the cgroups, the temp entries, the containers and the run's records.
Without a run id, every recorded run whose owner is gone (see :mod:`harness.env.lifetime`) is
swept.

``python -m harness.env.sweep watch RUN_ID`` is the watchdog of :class:`~harness.env.lifetime.
Lifeline`: it sweeps ``RUN_ID`` when its stdin reaches end of file without a ``done`` line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.env.created import created_paths, creation_records, run_id_of
from harness.env.lifetime import ENV_RUN_ID, live_run_ids, run_record_path

CGROUP_ROOT = Path("/sys/fs/cgroup")
DOCKER_LABEL = "durabench.run_id"


class SweepError(RuntimeError):
    """A sweep was refused (the run is still alive) or could not finish; the message says why."""


def _matches(run_id: str | None, value: str) -> bool:
    """Case-insensitive: Docker names and labels carry the run id in lower case."""
    if run_id is None:
        return True
    run_id, value = run_id.lower(), value.lower()
    return value == run_id or value.startswith(run_id + "-")


def _owned_by_live(value: str, live: Iterable[str]) -> bool:
    return any(_matches(rid, value) for rid in live)


@dataclass
class Leftovers:
    """What a sweep found (and, after :func:`sweep`, removed)."""

    processes: list[tuple[int, str, str]] = field(default_factory=list)  # pid, run id, command
    cgroups: list[Path] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    records: list[Path] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        for pid, run_id, command in self.processes:
            yield f"process {pid} (run {run_id}): {command[:100]}"
        yield from (f"cgroup {path}" for path in self.cgroups)
        yield from (f"temp {path}" for path in self.paths)
        yield from (f"container {name}" for name in self.containers)
        yield from (f"network {name}" for name in self.networks)
        yield from (f"run record {path}" for path in self.records)

    def __len__(self) -> int:
        return sum(1 for _ in self.lines())


def process_run_id(pid: int) -> str | None:
    """The ``DURABENCH_RUN_ID`` a process was started with (None: none, gone or unreadable)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = ENV_RUN_ID.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix):].decode(errors="replace")
    return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _processes(run_id: str | None, live: set[str]) -> list[tuple[int, str, str]]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        rid = process_run_id(int(entry.name))
        if rid is None or not _matches(run_id, rid) or _owned_by_live(rid, live):
            continue
        found.append((int(entry.name), rid, _command(int(entry.name))))
    return found


def _swept(run_id: str | None, live: set[str], stem: str) -> bool:
    """Whether the run named ``stem`` (a record's run id) is one this sweep removes."""
    if run_id is not None:
        return _matches(run_id, stem)
    return not _owned_by_live(stem, live)


def _recorded(run_id: str | None, live: set[str]) -> tuple[list[Path], list[Path], list[Path]]:
    """(cgroups, temp entries, creation records) of the swept runs' creation records. An entry
    counts only while it exists and its name still carries the run id that recorded it."""
    cgroups: list[Path] = []
    paths: list[Path] = []
    records: list[Path] = []
    for record in creation_records():
        owner = run_id_of(record)
        if not _swept(run_id, live, owner):
            continue
        records.append(record)
        for path in created_paths(record):
            if not os.path.lexists(path) or owner.lower() not in path.name.lower():
                continue
            (cgroups if path.is_relative_to(CGROUP_ROOT) else paths).append(path)
    return cgroups, paths, records


def _docker(run_id: str | None, live: set[str]) -> tuple[list[tuple[Any, str]], list[Any]]:
    try:
        import importlib

        sdk = importlib.import_module("docker")
        client = sdk.from_env(timeout=10)
        client.ping()
    except Exception:  # no SDK or no engine: nothing of ours can be there
        return [], []
    from harness.env.docker import labelled_containers, orphaned  # lazily: local runs need neither

    def wanted(labels: dict[str, str]) -> bool:
        value = labels.get(DOCKER_LABEL, "")
        if run_id is not None:
            return _matches(run_id, value)
        return not _owned_by_live(value, live) and orphaned(labels)

    containers = [(c, name) for c, labels, name in labelled_containers(client, DOCKER_LABEL)
                  if wanted(labels)]  # fmt: skip
    networks = [n for n in client.networks.list(filters={"label": DOCKER_LABEL})
                if wanted(n.attrs.get("Labels") or {})]  # fmt: skip
    return containers, networks


def find_leftovers(run_id: str | None = None, *, docker: bool = True) -> Leftovers:
    """Everything of ``run_id`` (or of every run that is not live) on this host."""
    live = set() if run_id is not None else live_run_ids()
    found = Leftovers(processes=_processes(run_id, live))
    found.cgroups, found.paths, created = _recorded(run_id, live)
    records = run_record_path("x").parent
    if records.is_dir():
        found.records = [p for p in sorted(records.glob("*.json"))
                         if _matches(run_id, p.stem) and p.stem not in live]  # fmt: skip
    found.records += created
    if docker:
        containers, networks = _docker(run_id, live)
        found.containers = [name for _, name in containers]
        found.networks = [str(getattr(n, "name", n)) for n in networks]
    return found


def _kill(pids: Iterable[int]) -> None:
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):  # a stopped process dies only once resumed
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


def _kill_cgroup_members(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        _kill(int(line) for line in (path / "cgroup.procs").read_text().split())


def _remove_cgroup(path: Path, deadline: float) -> None:
    while True:
        _kill_cgroup_members(path)
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SweepError(f"cannot remove cgroup {path}: {exc}") from None
            time.sleep(0.05)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def sweep(run_id: str | None = None, *, docker: bool = True, timeout_s: float = 60.0) -> Leftovers:
    """Remove what :func:`find_leftovers` finds; returns it. Processes go first (a cgroup or a
    data dir cannot go while they use it). A still-live run is refused with :class:`SweepError`."""
    if run_id is not None:
        alive = [rid for rid in live_run_ids() if _matches(run_id, rid)]
        if alive:
            raise SweepError(
                f"run {alive[0]} is still running (its owner process is alive); stop it "
                "(Ctrl-C or kill -TERM) before sweeping it"
            )
    found = find_leftovers(run_id, docker=docker)
    deadline = time.monotonic() + timeout_s
    pids = [pid for pid, _, _ in found.processes]
    _kill(pids)
    while any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise SweepError(f"processes {pids} of run {run_id or '(any)'} did not die")
        time.sleep(0.05)
    for path in found.cgroups:
        _remove_cgroup(path, deadline)
    for path in found.paths:
        _remove_path(path)
    for path in found.records:  # last: what a record lists must go before the record
        _remove_path(path)
    if docker and (found.containers or found.networks):
        _remove_docker(run_id)
    return found


def _alive(pid: int) -> bool:
    """Running or runnable; a zombie (waiting for its parent to reap it) counts as dead."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in ("Z", "X")


def _remove_docker(run_id: str | None) -> None:
    containers, networks = _docker(run_id, set() if run_id is not None else live_run_ids())
    for container, _ in containers:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    for network in networks:
        with contextlib.suppress(Exception):
            network.remove()


def _watch(run_id: str) -> int:
    """Block until stdin ends; sweep ``run_id`` unless the owner wrote ``done`` first."""
    with contextlib.suppress(ValueError):  # never take the terminal's signals for the owner's
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    received = sys.stdin.buffer.read()
    if b"done" in received.split():
        return 0
    deadline = time.monotonic() + 600
    while True:  # on a loaded machine a sweep may time out; what it did not remove, retry
        try:
            found = sweep(run_id)
            break
        except SweepError as exc:
            with contextlib.suppress(OSError):  # the owner's stderr may be gone with it
                print(f"durabench watchdog: {exc}; retrying", file=sys.stderr, flush=True)
            if time.monotonic() > deadline:
                return 1
            time.sleep(1.0)
    if len(found):
        with contextlib.suppress(OSError):
            print(f"durabench watchdog: owner of run {run_id} died; swept {len(found)} item(s)",
                  file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "watch":
        sys.exit(_watch(sys.argv[2]))
    print("usage: python -m harness.env.sweep watch RUN_ID", file=sys.stderr)
    sys.exit(2)
