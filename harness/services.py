"""A SUT's own services (e.g. Temporal's dev server) in an environment, handled like Postgres.

Lifecycle, driven by the runner through a :class:`ServicePool` (one per environment):
1. the first trial of a SUT starts its services (``SystemUnderTest.services(ctx)``), each entered
   as a context manager, once per environment; their programs run where the environment runs
   its parts (``ctx.start`` -> ``Environment.start_service``: a process here, a container in
   Docker);
2. each is checked: its address must accept a TCP connection within ``ready_timeout_s`` (else
   :class:`~harness.env.EnvironmentStartError` with the service's log tail);
3. per trial, a Toxiproxy link is put in front of each service for the workers
   (``WorkerSpec.service_urls``, ``Links.service_proxies`` for network faults), while the
   harness's own client gets the direct addresses (``ClientContext.service_urls``);
4. ``db_crash`` crashes the SUT's durable store: Postgres, or the service it names
   (:class:`DurableStore`);
5. the pool's exit tears every service down in reverse order, also after a failed start.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.env import Environment, EnvironmentStartError, url_address
from harness.faults._base import DurableStore
from harness.net import ToxiproxyError
from harness.sut import Service, ServiceContext, SystemUnderTest


@dataclass(frozen=True)
class PostgresStore:
    """The environment's Postgres as a SUT's durable store."""

    env: Environment

    def crash(self) -> None:
        self.env.crash_postgres()

    def restart(self) -> None:
        self.env.start_postgres()


@dataclass(frozen=True)
class ServiceStore:
    """A service of the SUT's own as its durable store; ``restart`` waits until it answers."""

    service: Service
    ready_timeout_s: float = 60.0

    def crash(self) -> None:
        self.service.crash()

    def restart(self) -> None:
        self.service.restart()
        wait_reachable(self.service, self.ready_timeout_s)


def wait_reachable(service: Service, timeout_s: float) -> None:
    """Block until the service's address accepts a TCP connection; explain a timeout."""
    host, port = url_address(service.url)
    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise EnvironmentStartError(
        f"service {service.name!r} at {host}:{port} did not accept a connection within "
        f"{timeout_s:.0f}s ({last}).\n--- log ---\n{service.tail()}"
    )


@dataclass(frozen=True)
class ServiceLinks:
    """One trial's links in front of a SUT's services."""

    worker_urls: Mapping[str, str]
    proxies: Mapping[str, str]
    """Service name -> Toxiproxy proxy name."""


class RunningServices:
    """The started and checked services of one SUT."""

    def __init__(self, sut: SystemUnderTest, services: Mapping[str, Service]) -> None:
        self.sut = sut
        self.services = dict(services)

    @property
    def direct_urls(self) -> dict[str, str]:
        return {name: s.url for name, s in self.services.items()}

    def durable_store(self, env: Environment) -> DurableStore:
        store = self.sut.durable_store
        if store == "postgres":
            return PostgresStore(env)
        return ServiceStore(self.services[store])

    def link(self, env: Environment, label: str) -> ServiceLinks:
        """A Toxiproxy link in front of every service, for one trial's workers."""
        urls: dict[str, str] = {}
        proxies: dict[str, str] = {}
        try:
            for name, service in self.services.items():
                worker_url, proxy = env.create_service_link(label, name, service.url)
                urls[name], proxies[name] = worker_url, proxy
        except BaseException:
            self.unlink(env, ServiceLinks(urls, proxies))
            raise
        return ServiceLinks(urls, proxies)

    @staticmethod
    def unlink(env: Environment, links: ServiceLinks) -> None:
        for proxy in links.proxies.values():
            with contextlib.suppress(ToxiproxyError):
                env.toxiproxy().delete_proxy(proxy)


class ServicePool:
    """The SUTs' services in one environment: started on a SUT's first trial, torn down on exit.

    Safe to share between threads.
    """

    def __init__(self, env: Environment, ready_timeout_s: float = 60.0) -> None:
        self.env = env
        self.ready_timeout_s = ready_timeout_s
        self._running: dict[str, RunningServices] = {}
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()

    def __enter__(self) -> ServicePool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        with self._lock:
            self._running.clear()
            self._stack.close()

    def for_sut(self, sut: SystemUnderTest) -> RunningServices:
        with self._lock:
            if sut.name not in self._running:
                self._running[sut.name] = self._start(sut)
            return self._running[sut.name]

    def _start(self, sut: SystemUnderTest) -> RunningServices:
        work_dir = Path(self.env.work_dir) / f"services-{sut.name}"
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = ServiceContext(work_dir=str(work_dir), run_id=self.env.run_id,
                             postgres_url=self.env.postgres_url, launcher=self.env)
        started: dict[str, Service] = {}
        with contextlib.ExitStack() as stack:
            for service in sut.services(ctx):
                if service.name in started or service.name == "postgres":
                    raise ValueError(f"SUT {sut.name!r} has two services named "
                                     f"{service.name!r} (or one named 'postgres')")  # fmt: skip
                started[service.name] = stack.enter_context(service)
                wait_reachable(service, self.ready_timeout_s)
            if sut.durable_store != "postgres" and sut.durable_store not in started:
                raise ValueError(
                    f"SUT {sut.name!r}: durable_store {sut.durable_store!r} is neither "
                    f"'postgres' nor one of its services ({', '.join(started) or 'none'})"
                )
            self._stack.enter_context(stack.pop_all())
        return RunningServices(sut, started)


__all__ = [
    "DurableStore",
    "PostgresStore",
    "RunningServices",
    "ServiceLinks",
    "ServicePool",
    "ServiceStore",
    "wait_reachable",
]
