"""The ``docker`` environment: Postgres, Toxiproxy, the provider and the workers as containers.

Lifecycle of :class:`DockerEnvironment` (a context manager):
1. connect to the engine (``DOCKER_HOST`` or the default socket) — a clear error says how to start
   one; sweep what crashed runs left (everything labelled ``durabench.run_id`` of another run);
2. a per-run bridge network and a host work dir (bind-mounted into workers at the same path);
3. containers ``postgres``, ``toxiproxy`` and ``provider`` on the network, their ports published
   on 127.0.0.1 only, each waited for until it really answers (Postgres: a query succeeds; the
   provider: ``/healthz``; Toxiproxy: ``/version``); a timeout prints the container's log tail;
4. per trial: a database, two Toxiproxy links (``toxiproxy:<port>`` inside the network) and worker
   containers; a worker's memory limit is ``mem_limit`` = ``memswap_limit``; a SUT's own service
   (:meth:`DockerEnvironment.start_service`) is a container of the project image on the network
   (alias ``svc-<name>``), linked like Postgres (a proxy to ``svc-<name>:<port>``);
5. teardown, also on failure or Ctrl-C: every container and the network of the run are removed;
   if this process dies first (SIGKILL), the run's watchdog (:class:`harness.env.lifetime.
   Lifeline`) removes them, and ``durabench sweep --run-id`` does it by hand.

Signals map to container operations: SIGKILL -> ``kill()``, SIGTERM -> ``kill(signal=SIGTERM)``,
SIGSTOP -> ``pause()`` (the freezer), SIGCONT -> ``unpause()``. Exit codes are reported like a
local process's: a container that died of signal N (exit code 128+N) is reported as -N.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psycopg

from harness.env import (
    CapabilityUnavailable,
    EnvironmentStartError,
    Links,
    delete_links,
    wait_for_ready_line,
    with_address,
)
from harness.env.created import temp_dir
from harness.env.lifetime import Lifeline, process_start_time
from harness.env.local import new_run_id
from harness.env.postgres import (
    create_database,
    drop_database,
    free_port,
    labelled_name,
    query_error_after,
)
from harness.env.service_process import expand
from harness.images import ImageSet
from harness.llm import ProviderClient
from harness.net import ToxiproxyClient
from harness.sut._protocol import ServiceCommand
from harness.sut._releases import ENV_HOST_PATH

LABEL = "durabench.run_id"
OWNER_LABEL = "durabench.owner_pid"
HOST_LABEL = "durabench.host"
OWNER_START_LABEL = "durabench.owner_start"
PROVIDER_PORT = 8000
TOXIPROXY_PORT = 8474


def _docker() -> Any:
    # The SDK by name: the repository's own ``docker/`` folder (Dockerfiles) must not shadow it
    # for a type checker; imported here so local runs never touch it.
    sdk: Any = importlib.import_module("docker")
    try:
        client = sdk.from_env(timeout=30)
        client.ping()
    except sdk.errors.DockerException as exc:
        raise EnvironmentStartError(
            f"no Docker engine is reachable ({exc}). Start one (e.g. `dockerd &`, or "
            "`bash scripts/docker-engine.sh` on Debian), or point DOCKER_HOST at one."
        ) from exc
    return client


def _where() -> str:
    """Where an owner pid means something: this host name and pid namespace (one engine may serve
    several hosts, or several sandboxes of one host with pids of their own). Empty when unknown."""
    try:
        return f"{socket.gethostname()} {os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""


def owner_labels(run_id: str) -> dict[str, str]:
    """Who owns a run's containers: its id, this process (pid and start time) and where that pid
    means something (host name and pid namespace; an engine may serve several of either)."""
    pid = os.getpid()
    return {LABEL: run_id, OWNER_LABEL: str(pid), HOST_LABEL: _where(),
            OWNER_START_LABEL: process_start_time(pid) or ""}


def orphaned(labels: Mapping[str, str]) -> bool:
    """Left by a run whose harness process is gone (a crash, a kill -9, a closed terminal).

    Only a run whose owner pid can be checked from here is judged: same host name and pid
    namespace (a shared engine also serves other sandboxes' runs, whose pids are not ours to look
    up; the host label holds both, so older harnesses elsewhere leave ours alone too)."""
    if not _where() or labels.get(HOST_LABEL) != _where():
        return False  # another host's or sandbox's run (or we cannot tell): not ours to judge
    try:
        pid = int(labels.get(OWNER_LABEL, ""))
    except ValueError:
        return False
    start = process_start_time(pid)
    if start is None:
        return True  # the owner is gone
    recorded = labels.get(OWNER_START_LABEL)
    return bool(recorded) and recorded != start  # the pid was reused by another process


def labelled_containers(client: Any, label: str) -> list[tuple[Any, dict[str, str], str]]:
    """``(container, labels, name)`` of every container carrying ``label`` (``key`` or
    ``key=value``). A sparse listing: a full one inspects each container afterwards, and fails
    when another process removes one in between (two runs sweeping at once)."""
    found = []
    for container in client.containers.list(all=True, filters={"label": label}, sparse=True):
        attrs = container.attrs
        names = attrs.get("Names") or [container.id]
        found.append((container, dict(attrs.get("Labels") or {}), str(names[0]).lstrip("/")))
    return found


def sweep(client: Any, *, everything: bool = False) -> int:
    """Remove the containers and networks that crashed runs left (or, with ``everything``, of
    every durabench run). Returns how many containers went."""
    removed = 0
    for container, labels, _ in labelled_containers(client, LABEL):
        if everything or orphaned(labels):
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed += 1
    for network in client.networks.list(filters={"label": LABEL}):
        if everything or orphaned(network.attrs.get("Labels") or {}):
            with contextlib.suppress(Exception):
                network.remove()
    return removed


def _offline_only(client: Any) -> bool:
    """True when the public images are absent here but the offline builds are present."""
    present = {tag for image in client.images.list() for tag in image.tags}
    public, offline = ImageSet.defaults(offline=False), ImageSet.defaults(offline=True)
    return public.postgres not in present and offline.postgres in present


def _signal_exit(code: int | None) -> int | None:
    if code is not None and 128 < code < 128 + 65:
        return -(code - 128)
    return code


def container_state(container: Any) -> dict[str, Any]:
    """A container's ``State``, refreshed when the engine answers (else the last one seen)."""
    with contextlib.suppress(Exception):
        container.reload()
    return dict(container.attrs["State"])


class ContainerWorker:
    """A worker container; signals become container operations."""

    def __init__(self, name: str, executor_id: str, container: Any, limited: bool) -> None:
        self.name = name
        self.executor_id = executor_id
        self._container = container
        self._limited = limited
        self._exit: int | None = None
        container.reload()
        self.pid = int(container.attrs["State"].get("Pid") or 0)

    def _state(self) -> dict[str, Any]:
        return container_state(self._container)

    @property
    def alive(self) -> bool:
        return self.poll() is None

    def poll(self) -> int | None:
        if self._exit is not None:
            return self._exit
        state = self._state()
        if state.get("Status") in ("exited", "dead"):
            self._exit = _signal_exit(int(state.get("ExitCode", 0)))
        return self._exit

    def wait(self, timeout_s: float) -> int | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.poll() is not None:
                return self._exit
            time.sleep(0.02)
        return self.poll()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        wait_for_ready_line(
            self, lambda: self._container.logs().decode(errors="replace"), timeout_s, 0.05
        )

    def signal(self, signum: int) -> None:
        with contextlib.suppress(Exception):  # a container already gone has nothing to signal
            if signum == signal.SIGSTOP:
                self._container.pause()
            elif signum == signal.SIGCONT:
                if self._state().get("Paused"):
                    self._container.unpause()
            else:
                self._container.kill(signal=int(signum))

    def stop(self) -> int | None:
        if self.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
        return self.wait(15.0)

    def oom_kills(self) -> int | None:
        if not self._limited:
            return None
        return 1 if self._state().get("OOMKilled") else 0

    def tail(self, lines: int = 15) -> str:
        try:
            return str(self._container.logs(tail=lines).decode(errors="replace"))
        except Exception as exc:  # the log is a diagnostic; its absence must not mask the error
            return f"(no logs: {exc})"


class ContainerService:
    """A SUT's service program as a container on the run's network (alias ``svc-<name>``), its
    port published on 127.0.0.1; killed with ``kill()`` and started again as the same container
    (same address, same bind-mounted data)."""

    def __init__(self, container: Any, alias: str, port: int, host_port: int) -> None:
        self._container = container
        self.upstream = f"{alias}:{port}"
        """Its address inside the run's network (what a Toxiproxy proxy forwards to)."""
        self.host_port = host_port

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.host_port}"

    def _state(self) -> dict[str, Any]:
        return container_state(self._container)

    @property
    def pid(self) -> int:
        return int(self._state().get("Pid") or 0)

    def poll(self) -> int | None:
        state = self._state()
        if state.get("Status") in ("created", "running", "restarting", "paused"):
            return None
        return _signal_exit(int(state.get("ExitCode", 0)))

    def kill(self) -> None:
        with contextlib.suppress(Exception):  # not running: nothing to kill
            self._container.kill()
        deadline = time.monotonic() + 15.0
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self) -> None:
        if self.poll() is not None:
            self._container.start()

    def remove(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self._container.remove(force=True)

    def tail(self, lines: int = 15) -> str:
        try:
            return str(self._container.logs(tail=lines).decode(errors="replace"))
        except Exception as exc:  # the log is a diagnostic; its absence must not mask the error
            return f"(no logs: {exc})"


class DockerEnvironment:
    """Every part a container on a per-run network; only 127.0.0.1 ports are published."""

    name = "docker"

    def __init__(self, run_id: str | None = None, *, images: ImageSet | None = None,
                 tokens_per_second: float = 5000.0, seed: int = 0, keep: bool = False,
                 ready_timeout_s: float = 90.0) -> None:  # fmt: skip
        self.run_id = run_id or new_run_id()
        self.images = images
        self.tokens_per_second = tokens_per_second
        self.seed = seed
        self.keep = keep
        self.ready_timeout_s = ready_timeout_s
        self.work_dir = Path()
        self._client: Any = None
        self._network: Any = None
        self._containers: dict[str, Any] = {}
        self._ports: dict[str, int] = {}
        self._services: dict[str, ContainerService] = {}
        self._provider: ProviderClient | None = None
        self._toxiproxy: ToxiproxyClient | None = None
        self._labels = owner_labels(self.run_id)
        self._lifeline: Lifeline | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> DockerEnvironment:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self._stop()

    def _start(self) -> None:
        self._lifeline = Lifeline(self.run_id).__enter__()
        self._client = _docker()
        if self.images is None:
            self.images = ImageSet.from_env(offline=_offline_only(self._client))
        sweep(self._client)
        self.work_dir = temp_dir(self.run_id, f"durabench-{self.run_id}-")
        self.work_dir.chmod(0o777)
        self._network = self._client.networks.create(
            f"durabench-{self.run_id}", driver="bridge", labels=self._labels
        )
        images = self.images
        # Published on 127.0.0.1 only, so trust authentication reaches nobody but this host.
        self._start_service("postgres", images.postgres, 5432,
                            environment={"POSTGRES_HOST_AUTH_METHOD": "trust"})  # fmt: skip
        self._wait_postgres()
        self._start_service("toxiproxy", images.toxiproxy, TOXIPROXY_PORT)
        self._start_service("provider", images.project, PROVIDER_PORT, command=[
            "python3", "-m", "harness.llm", "serve", "--host", "0.0.0.0", "--allow-remote",
            "--port", str(PROVIDER_PORT), "--seed", str(self.seed),
            "--tokens-per-second", str(self.tokens_per_second)])  # fmt: skip
        self._wait_http("provider", f"{self.provider_url}/healthz")
        self._wait_http("toxiproxy", f"http://127.0.0.1:{self._ports['toxiproxy']}/version")
        self._provider = ProviderClient(self.provider_url)
        self._toxiproxy = ToxiproxyClient(f"http://127.0.0.1:{self._ports['toxiproxy']}")

    def _stop(self) -> None:
        for closable in (self._provider, self._toxiproxy):
            with contextlib.suppress(Exception):
                closable.close()  # type: ignore[union-attr]
        if self._client is not None:
            for container, _, _ in labelled_containers(self._client, f"{LABEL}={self.run_id}"):
                with contextlib.suppress(Exception):
                    container.remove(force=True)
            if self._network is not None:
                with contextlib.suppress(Exception):
                    self._network.remove()
        if not self.keep and self.work_dir != Path():
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if self._lifeline is not None:
            self._lifeline.__exit__(None, None, None)
            self._lifeline = None

    def _start_service(self, alias: str, image: str, port: int, *,
                       environment: Mapping[str, str] | None = None,
                       command: Sequence[str] | None = None) -> None:  # fmt: skip
        host_port = free_port()
        try:
            container = self._client.containers.run(
                image, command=list(command) if command else None, detach=True,
                name=f"durabench-{self.run_id}-{alias}", labels=self._labels,
                network=self._network.name, environment=dict(environment or {}),
                ports={f"{port}/tcp": ("127.0.0.1", host_port)},
                networking_config={self._network.name: self._client.api.create_endpoint_config(
                    aliases=[alias])},
            )  # fmt: skip
        except Exception as exc:
            raise EnvironmentStartError(
                f"could not start the {alias} container from image {image!r}: {exc}. Build the "
                "images with `durabench images build` (add --offline without registry access) "
                "or set DURABENCH_IMAGE / DURABENCH_POSTGRES_IMAGE / DURABENCH_TOXIPROXY_IMAGE."
            ) from exc
        self._containers[alias] = container
        self._ports[alias] = host_port

    def _logs(self, alias: str) -> str:
        with contextlib.suppress(Exception):
            return str(self._containers[alias].logs(tail=20).decode(errors="replace"))
        return "(no logs)"

    def _wait_postgres(self) -> None:
        last = query_error_after(self.postgres_url, self.ready_timeout_s, interval_s=0.2)
        if last is None:
            return
        raise EnvironmentStartError(
            f"the postgres container did not answer a query within {self.ready_timeout_s:.0f}s "
            f"({last}).\n--- logs ---\n{self._logs('postgres')}"
        )

    def _wait_http(self, alias: str, url: str) -> None:
        deadline, last = time.monotonic() + self.ready_timeout_s, ""
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise EnvironmentStartError(
            f"the {alias} container did not answer {url} within {self.ready_timeout_s:.0f}s "
            f"({last}).\n--- logs ---\n{self._logs(alias)}"
        )

    # -- parts ---------------------------------------------------------------------------------
    @property
    def postgres_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._ports['postgres']}/postgres"

    @property
    def provider_url(self) -> str:
        return f"http://127.0.0.1:{self._ports['provider']}"

    def provider_client(self) -> ProviderClient:
        if self._provider is None:
            raise EnvironmentStartError("the docker environment is not started")
        return self._provider

    def toxiproxy(self) -> ToxiproxyClient:
        if self._toxiproxy is None:
            raise EnvironmentStartError("the docker environment is not started")
        return self._toxiproxy

    def create_database(self, label: str) -> str:
        return create_database(self.postgres_url, label)

    def drop_database(self, url: str) -> None:
        if not self.keep:
            drop_database(self.postgres_url, url)

    def create_links(self, label: str, database_url: str) -> Links:
        toxiproxy = self.toxiproxy()
        suffix = labelled_name("", label)
        dbname = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
        pg = toxiproxy.create_proxy(f"pg_{suffix}", "0.0.0.0:0", "postgres:5432")
        llm = toxiproxy.create_proxy(f"llm_{suffix}", "0.0.0.0:0", f"provider:{PROVIDER_PORT}")
        return Links(
            postgres_url=f"postgresql://postgres@toxiproxy:{pg.listen_port}/{dbname}",
            provider_url=f"http://toxiproxy:{llm.listen_port}",
            postgres_proxy=pg.name,
            provider_proxy=llm.name,
        )

    def remove_links(self, links: Links) -> None:
        delete_links(self.toxiproxy(), links)

    def start_service(self, command: ServiceCommand) -> ContainerService:
        """The program in a container from the project image (the program of ``argv[0]``'s
        base name on its PATH), on the run's network as ``svc-<name>``, listening on
        0.0.0.0:``port`` (published on a free 127.0.0.1 port), ``work_dir`` bind-mounted at
        the same path, running as this host's user (so its files there are this user's)."""
        assert self.images is not None
        alias, host_port = f"svc-{command.name}", free_port()
        argv = [Path(command.argv[0]).name, *expand(command.argv[1:], "0.0.0.0", command.port)]
        try:
            container = self._client.containers.run(
                self.images.project, command=argv, detach=True,
                name=f"durabench-{self.run_id}-{alias}", labels=self._labels,
                network=self._network.name, user=f"{os.getuid()}:{os.getgid()}",
                environment={**dict(command.env), "DURABENCH_RUN_ID": self.run_id},
                ports={f"{command.port}/tcp": ("127.0.0.1", host_port)},
                volumes={command.work_dir: {"bind": command.work_dir, "mode": "rw"}},
                networking_config={self._network.name: self._client.api.create_endpoint_config(
                    aliases=[alias])},
            )  # fmt: skip
        except Exception as exc:
            raise EnvironmentStartError(
                f"could not start the {command.name} service container from image "
                f"{self.images.project!r} ({' '.join(argv)}): {exc}. The project image must "
                "contain the SUT's extra (`durabench images build`, or set DURABENCH_IMAGE)."
            ) from exc
        service = ContainerService(container, alias, command.port, host_port)
        self._services[service.url] = service
        return service

    def create_service_link(self, label: str, service: str, url: str) -> tuple[str, str]:
        """A proxy in the Toxiproxy container in front of a service this environment started
        (:meth:`start_service`); the workers reach it at ``toxiproxy:<port>``."""
        started = self._services.get(url)
        if started is None:
            raise CapabilityUnavailable(
                f"the SUT's service {service!r} at {url} was not started by the docker "
                "environment (ServiceContext.start); as a host process bound to 127.0.0.1 worker "
                "containers cannot reach it: run this SUT on --env local"
            )
        proxy = self.toxiproxy().create_proxy(
            f"svc_{labelled_name('', label)}_{service}", "0.0.0.0:0", started.upstream)
        return with_address(url, "toxiproxy", proxy.listen_port), proxy.name

    def start_worker(self, name: str, executor_id: str, argv: Sequence[str], *,
                     wait_ready: bool = True, extra_env: Mapping[str, str] | None = None,
                     memory_limit_mb: int | None = None) -> ContainerWorker:  # fmt: skip
        limits: dict[str, Any] = {}
        if memory_limit_mb is not None:
            limits = {"mem_limit": f"{memory_limit_mb}m", "memswap_limit": f"{memory_limit_mb}m"}
        assert self.images is not None
        if ENV_HOST_PATH in (extra_env or {}):
            raise EnvironmentStartError(
                f"worker {name} would run a pinned release (--sut NAME==VERSION), whose "
                f"environment {argv[0]} lives on this host, not in the project image: pinned "
                "releases run on --env local only; use --env local, or the image's release")
        container = self._client.containers.run(
            self.images.project, command=["python3", *argv[1:]], detach=True,
            name=f"durabench-{self.run_id}-{name}", labels=self._labels,
            network=self._network.name,
            environment={"PYTHONUNBUFFERED": "1", "DURABENCH_RUN_ID": self.run_id,
                         **dict(extra_env or {})},
            volumes={str(self.work_dir): {"bind": str(self.work_dir), "mode": "rw"}},
            **limits,
        )  # fmt: skip
        worker = ContainerWorker(name, executor_id, container, memory_limit_mb is not None)
        if wait_ready:
            worker.wait_ready()
        return worker

    def crash_postgres(self) -> None:
        self._containers["postgres"].kill()

    def start_postgres(self) -> None:
        container = self._containers["postgres"]
        container.reload()
        if container.status != "running":
            container.start()
        self._wait_postgres()


def docker_available() -> str | None:
    """None when an engine answers, else the reason it does not (for skips)."""
    try:
        _docker().close()
    except EnvironmentStartError as exc:
        return str(exc)
    return None


__all__ = ["ContainerService", "ContainerWorker", "DockerEnvironment", "docker_available",
           "labelled_containers", "orphaned", "owner_labels", "sweep"]
