"""Environments: where the parts of a trial run.

- ``local`` (:class:`harness.env.local.LocalEnvironment`): embedded Postgres, the provider, a
  Toxiproxy server and the workers as processes on this host;
- ``docker`` (:mod:`harness.env.docker`): the same parts as containers on a per-run network.

The runner and the faults only see the two protocols below, so a fault is written once: a signal
to a :class:`Worker` is a signal to a process group locally and the matching container operation in
Docker (SIGKILL -> kill, SIGTERM -> kill(signal=SIGTERM), SIGSTOP -> pause, SIGCONT -> unpause).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit, urlunsplit

from harness.llm import ProviderClient
from harness.net import ToxiproxyClient, ToxiproxyError

if TYPE_CHECKING:
    from harness.sut._protocol import ServiceCommand, ServiceProcess


class EnvironmentStartError(RuntimeError):
    """A part of the environment failed to start or answer; the message says which and why."""


class CapabilityUnavailable(RuntimeError):
    """The environment cannot do this here (no memory cgroup, an external Postgres it cannot
    crash, ...); the trial is skipped with the message."""


@dataclass(frozen=True)
class Links:
    """A trial's network paths through Toxiproxy: the URLs its workers use (as the workers see
    them), and the proxy names the network faults act on."""

    postgres_url: str
    provider_url: str
    postgres_proxy: str
    provider_proxy: str
    service_urls: Mapping[str, str] = field(default_factory=dict)
    """The SUT's own services as its workers reach them (through their links), by name."""
    service_proxies: Mapping[str, str] = field(default_factory=dict)
    """Service name -> the Toxiproxy proxy in front of it."""


def url_address(url: str) -> tuple[str, int]:
    """``host, port`` of ``scheme://host:port/...`` or ``host:port``."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"URL {url!r} names no host:port")
    return parts.hostname, parts.port


def with_address(url: str, host: str, port: int) -> str:
    """``url`` pointing at ``host:port`` instead (scheme, credentials, path and query kept)."""
    if "://" not in url:
        return f"{host}:{port}"
    parts = urlsplit(url)
    netloc = f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def wait_for_ready_line(
    worker: Worker, read_log: Callable[[], str], timeout_s: float, interval_s: float = 0.02
) -> None:
    """Block until ``worker`` printed ``worker <executor id> ready``; an exit before that or a
    timeout raises :class:`EnvironmentStartError` with the worker's log tail."""
    marker = f"worker {worker.executor_id} ready"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if marker in read_log():
            return
        code = worker.poll()
        if code is not None:
            raise EnvironmentStartError(
                f"worker {worker.name} exited with code {code} before it was ready.\n"
                f"--- log ---\n{worker.tail()}"
            )
        time.sleep(interval_s)
    raise EnvironmentStartError(
        f"worker {worker.name} not ready after {timeout_s:.0f}s.\n--- log ---\n{worker.tail()}"
    )


def delete_links(toxiproxy: ToxiproxyClient, links: Links) -> None:
    """Remove a trial's proxies; one already gone (a reset, a crashed server) is no error."""
    for name in (links.postgres_proxy, links.provider_proxy):
        with contextlib.suppress(ToxiproxyError):
            toxiproxy.delete_proxy(name)


class Worker(Protocol):
    """One worker of a SUT: a process group locally, a container in Docker."""

    @property
    def name(self) -> str: ...

    @property
    def executor_id(self) -> str: ...

    @property
    def pid(self) -> int: ...

    @property
    def alive(self) -> bool: ...

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        ...

    def wait(self, timeout_s: float) -> int | None:
        """Block until it exits (its exit code) or ``timeout_s`` passes (None)."""
        ...

    def wait_ready(self, timeout_s: float = 20.0) -> None: ...

    def signal(self, signum: int) -> None: ...

    def stop(self) -> int | None:
        """Make sure it is gone (SIGKILL) and return its exit code."""
        ...

    def oom_kills(self) -> int | None:
        """Kernel OOM kills counted for this worker; None when it runs without a memory limit."""
        ...

    def tail(self, lines: int = 15) -> str: ...


class Environment(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def run_id(self) -> str: ...

    @property
    def work_dir(self) -> Path:
        """A host directory the workers can see at the same path (trial dirs live here)."""
        ...

    @property
    def postgres_url(self) -> str:
        """The Postgres server (its maintenance database) as the harness reaches it."""
        ...

    def provider_client(self) -> ProviderClient: ...

    def toxiproxy(self) -> ToxiproxyClient: ...

    def create_database(self, label: str) -> str:
        """A fresh database for one trial; returns its URL as the harness reaches it."""
        ...

    def drop_database(self, url: str) -> None:
        """Drop a database :meth:`create_database` made, once its trial was read (kept where the
        environment keeps its work dir): a long session's hundreds of trial databases made every
        Postgres checkpoint and crash recovery slower, so the db_crash heal grew with the run."""
        ...

    def create_links(self, label: str, database_url: str) -> Links: ...

    def remove_links(self, links: Links) -> None: ...

    def create_service_link(self, label: str, service: str, url: str) -> tuple[str, str]:
        """A Toxiproxy proxy in front of a SUT's own service at ``url`` (as the harness reaches
        it) for one trial; returns ``(url as the workers reach it, proxy name)``. Raises
        :class:`CapabilityUnavailable` where the workers cannot reach such a service."""
        ...

    def start_service(self, command: ServiceCommand) -> ServiceProcess:
        """Start a SUT's service program here (a host process locally, a container on the
        run's network in Docker), not waiting for it to answer; torn down by its ``remove``
        and, whatever happens, with the environment. :meth:`create_service_link` then reaches
        it at its ``url``."""
        ...

    def start_worker(
        self,
        name: str,
        executor_id: str,
        argv: Sequence[str],
        *,
        wait_ready: bool = True,
        extra_env: Mapping[str, str] | None = None,
        memory_limit_mb: int | None = None,
    ) -> Worker:
        """Start a worker. ``argv[0]`` names the host's Python; a container environment runs its
        own. Raises :class:`CapabilityUnavailable` when ``memory_limit_mb`` cannot be enforced."""
        ...

    def crash_postgres(self) -> None:
        """Stop Postgres without a shutdown checkpoint; :class:`CapabilityUnavailable` if it
        cannot (an external server)."""
        ...

    def start_postgres(self) -> None:
        """Start it again (no-op when running) and wait until a query succeeds."""
        ...


__all__ = [
    "CapabilityUnavailable",
    "Environment",
    "EnvironmentStartError",
    "Links",
    "Worker",
    "delete_links",
    "url_address",
    "wait_for_ready_line",
    "with_address",
]
