"""Memory cgroups for the oom fault: a real limit, a real kernel OOM kill, counted by the kernel.

:func:`memory_cgroup` picks the hierarchy: cgroup v2 where the memory controller is available to
us (pure v2 hosts, most current Linux machines), else cgroup v1's memory hierarchy (needs root).
Where neither can be written it raises :class:`CgroupUnavailable` with the reason, and the oom
trial is skipped with it.

Lifecycle of a :class:`MemoryCgroup`: create the group labelled with the run id -> set the limit
(memory and swap alike, so the kernel cannot page its way out) -> ``add(pid)`` -> read
``oom_kills()`` from the group's own counters -> remove the group (once its processes are gone).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from types import TracebackType

from harness.env.created import record_created

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupUnavailable(RuntimeError):
    """No memory cgroup can be created here; the message says why."""


class MemoryCgroup:
    """One memory-limited cgroup (v1 or v2)."""

    def __init__(self, path: Path, version: int, limit_bytes: int,
                 run_id: str | None = None) -> None:
        self.path = path
        self.version = version
        self.limit_bytes = limit_bytes
        self.run_id = run_id
        """When set, the group goes into this run's creation record (harness.env.created), so
        a sweep of the run may remove it."""
        self._final_oom_kills: int | None = None

    def __enter__(self) -> MemoryCgroup:
        return self.create()

    def create(self) -> MemoryCgroup:
        """Make the group and set its limit; :meth:`remove` undoes it."""
        try:
            self.path.mkdir()
            if self.run_id is not None:
                record_created(self.run_id, self.path)
            self._set_limit()
        except OSError as exc:
            self.remove()
            raise CgroupUnavailable(f"cannot create memory cgroup {self.path}: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def _set_limit(self) -> None:
        limit = str(self.limit_bytes)
        if self.version == 2:
            (self.path / "memory.max").write_text(limit)
            with contextlib.suppress(OSError):  # absent when swap accounting is off
                (self.path / "memory.swap.max").write_text("0")
            return
        (self.path / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):  # absent without swap accounting
            (self.path / "memory.memsw.limit_in_bytes").write_text(limit)

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        """The kernel's count of OOM kills in this group (its last value once removed)."""
        if self._final_oom_kills is not None:
            return self._final_oom_kills
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        """Remove the group; waits briefly for killed processes to leave it."""
        if self._final_oom_kills is None and self.path.exists():
            self._final_oom_kills = self.oom_kills()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def _v2_parent() -> Path | None:
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if not controllers.exists() or "memory" not in controllers.read_text().split():
        return None
    # Our own group's parent is where a delegated (non-root) user may create siblings.
    own = Path("/proc/self/cgroup").read_text().strip().splitlines()[0].split("::", 1)[-1]
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / own.lstrip("/")):
        subtree = candidate / "cgroup.subtree_control"
        writable = os.access(candidate, os.W_OK) and subtree.exists()
        if writable and "memory" in subtree.read_text().split():
            return candidate
    return None


def memory_cgroup(label: str, limit_bytes: int, run_id: str | None = None) -> MemoryCgroup:
    """A not-yet-created memory cgroup named ``durabench-<label>``; enter it to create it.
    ``run_id`` (which ``label`` must carry) records it for that run's sweep."""
    name = f"durabench-{label}"
    parent = _v2_parent()
    if parent is not None:
        return MemoryCgroup(parent / name, 2, limit_bytes, run_id)
    v1 = CGROUP_ROOT / "memory"
    if (v1 / "memory.limit_in_bytes").exists():
        if not os.access(v1, os.W_OK):
            raise CgroupUnavailable(
                f"cgroup v1 memory hierarchy at {v1} is not writable (needs root)"
            )
        return MemoryCgroup(v1 / name, 1, limit_bytes, run_id)
    raise CgroupUnavailable(
        "no writable memory cgroup: neither a cgroup v2 hierarchy with the memory controller "
        f"delegated to us nor a cgroup v1 memory hierarchy under {CGROUP_ROOT}"
    )
