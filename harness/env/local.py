"""The ``local`` environment: every part a subprocess on this host.

Lifecycle of :class:`LocalEnvironment` (a context manager):
1. a work dir labelled with the run id (logs, ledger);
2. Postgres: embedded (pgserver's binaries on 127.0.0.1) or ``DURABENCH_POSTGRES_URL``;
3. the mock LLM provider process on 127.0.0.1;
4. per trial: a database (:meth:`create_database`) and worker processes (:meth:`start_worker`),
   each in its own process group so a fault can kill the whole group;
5. teardown in reverse order, also on test failure, Ctrl-C, SIGTERM or SIGHUP (raised as
   KeyboardInterrupt while the environment is up): every worker group is SIGKILLed, the provider
   and Postgres are stopped, the work dir is removed (``keep=True`` keeps it);
6. if this process dies without tearing down (SIGKILL), the run's watchdog
   (:class:`harness.env.lifetime.Lifeline`) sweeps every process, cgroup and temp file labelled
   with the run id; ``durabench sweep`` does the same by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psycopg
from psycopg import sql

from harness.env import (
    CapabilityUnavailable,
    EnvironmentStartError,
    Links,
    delete_links,
    url_address,
    wait_for_ready_line,
    with_address,
)
from harness.env.cgroups import CgroupUnavailable, MemoryCgroup, memory_cgroup
from harness.env.created import temp_dir
from harness.env.forkserver import ForkServer, forkserver_enabled
from harness.env.lifetime import ENV_RUN_ID, Lifeline, signals_as_interrupt
from harness.env.postgres import (
    ENV_URL,
    EmbeddedPostgres,
    ExternalPostgres,
    create_database,
    drop_database,
    labelled_name,
)
from harness.env.service_process import HostServiceProcess
from harness.env.statements import StatementLog, log_statements
from harness.llm import ProviderClient, ProviderProcess
from harness.net import ToxiproxyClient, ToxiproxyServer, toxiproxy_server
from harness.sut._protocol import ServiceCommand


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Process(Protocol):
    """What a worker's process handle offers: a ``subprocess.Popen`` or a ``ForkedProcess``."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class WorkerProcess:
    """One worker subprocess in its own process group, logging to a file; optionally in a
    memory cgroup (joined right after spawn, before the worker allocates anything of note).
    Forked by the run's fork server when it can be (:mod:`harness.env.forkserver`; ``forked``),
    else exec'd."""

    def __init__(
        self,
        name: str,
        executor_id: str,
        argv: Sequence[str],
        log_path: Path,
        cgroup: MemoryCgroup | None = None,
        forkserver: ForkServer | None = None,
    ) -> None:
        self.name = name
        self.executor_id = executor_id
        self.argv = list(argv)
        self.log_path = log_path
        self.cgroup = cgroup
        self.started_ns = 0
        self.forkserver = forkserver
        self.forked = False
        self._popen: _Process | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise EnvironmentStartError(f"worker {self.name} was never started")
        return self._popen.pid

    def start(self, env: dict[str, str] | None = None) -> None:
        forked = None
        if self.forkserver is not None:
            forked = self.forkserver.spawn(self.argv, dict(os.environ if env is None else env),
                                           self.log_path)  # fmt: skip
        self.forked = forked is not None
        if forked is not None:
            self._popen = forked
        else:
            with open(self.log_path, "ab") as log:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                )
        self.started_ns = time.time_ns()
        if self.cgroup is not None:
            self.cgroup.add(self._popen.pid)

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        """Block until the worker printed its ``ready`` line; a timeout shows its log."""
        wait_for_ready_line(self, lambda: self.log_path.read_text(errors="replace"), timeout_s)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the worker's whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def poll(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait(self, timeout_s: float) -> int | None:
        if self._popen is None:
            return None
        try:
            return self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """SIGKILL the group if still running and reap it; returns the exit code."""
        if self._popen is None:
            return None
        if self._popen.poll() is None:
            self.signal(signal.SIGCONT)  # a paused group cannot die until it is resumed
            self.signal(signal.SIGKILL)
        code = self.wait(10.0)
        if self.cgroup is not None:
            self.cgroup.remove()
        return code

    def tail(self, lines: int = 15) -> str:
        return _tail(self.log_path, lines)

    def oom_kills(self) -> int | None:
        return None if self.cgroup is None else self.cgroup.oom_kills()


class LocalEnvironment:
    """Postgres, provider and workers as local processes, all on 127.0.0.1."""

    name = "local"

    def __init__(
        self,
        run_id: str | None = None,
        *,
        tokens_per_second: float = 5000.0,
        seed: int = 0,
        keep: bool = False,
        postgres_extensions: Mapping[str, str] | None = None,
    ) -> None:
        """``postgres_extensions``: extension -> the SUT that creates it; the embedded Postgres
        is then one that has them (:func:`harness.env.postgres.postgres_bin_dir`)."""
        self.run_id = run_id or new_run_id()
        self.postgres_extensions = dict(postgres_extensions or {})
        self.tokens_per_second = tokens_per_second
        self.seed = seed
        self.keep = keep
        self.work_dir = Path()
        self.postgres: EmbeddedPostgres | ExternalPostgres | None = None
        self.provider_process: ProviderProcess | None = None
        self.provider: ProviderClient | None = None
        self._toxiproxy_server: ToxiproxyServer | None = None
        self._toxiproxy: ToxiproxyClient | None = None
        self._workers: list[WorkerProcess] = []
        self._forkserver: ForkServer | None = None
        self._databases: list[str] = []
        self._stack = contextlib.ExitStack()
        self.lifeline: Lifeline | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LocalEnvironment:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _start(self) -> None:
        # First in, last out: the watchdog sweeps the run if this process dies before _stop ends.
        self.lifeline = self._stack.enter_context(Lifeline(self.run_id))
        self._stack.enter_context(signals_as_interrupt())
        self.work_dir = temp_dir(self.run_id, f"durabench-{self.run_id}-")
        self._stack.callback(self._remove_work_dir)
        if forkserver_enabled():  # starts now, pre-imports while Postgres starts
            self._forkserver = self._stack.enter_context(
                ForkServer(self.work_dir, {**self._worker_env_base(), ENV_RUN_ID: self.run_id})
            )
        postgres: EmbeddedPostgres | ExternalPostgres = (
            ExternalPostgres(os.environ[ENV_URL], run_id=self.run_id)
            if os.environ.get(ENV_URL) else EmbeddedPostgres(
                run_id=self.run_id, extensions=tuple(self.postgres_extensions),
                needed_by=", ".join(sorted(set(self.postgres_extensions.values()))))
        )
        self._stack.enter_context(postgres)
        self.postgres = postgres
        self.provider_process = self._stack.enter_context(
            ProviderProcess(
                ledger_path=self.work_dir / "ledger.jsonl",
                seed=self.seed,
                tokens_per_second=self.tokens_per_second,
                run_id=self.run_id,
                log_dir=self.work_dir,
            )
        )
        self.provider = self._stack.enter_context(ProviderClient(self.provider_process.url))
        self._toxiproxy_server = self._stack.enter_context(toxiproxy_server(self.run_id))
        self._toxiproxy = self._stack.enter_context(self._toxiproxy_server.client())
        self._stack.callback(self._drop_databases)
        self._stack.callback(self.stop_workers)

    def _stop(self) -> None:
        self._stack.close()

    def _remove_work_dir(self) -> None:
        if not self.keep and self.work_dir != Path():
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- parts ---------------------------------------------------------------------------------
    @property
    def postgres_url(self) -> str:
        if self.postgres is None:
            raise EnvironmentStartError("the local environment is not started")
        return self.postgres.url

    @property
    def provider_url(self) -> str:
        if self.provider_process is None:
            raise EnvironmentStartError("the local environment is not started")
        return self.provider_process.url

    def provider_client(self) -> ProviderClient:
        if self.provider is None:
            raise EnvironmentStartError("the local environment is not started")
        return self.provider

    def create_database(self, label: str) -> str:
        """A fresh database for one trial, so its workers never see another trial's workflows."""
        url = create_database(self.postgres_url, label)
        self._databases.append(str(psycopg.conninfo.conninfo_to_dict(url)["dbname"]))
        return url

    def statements_unavailable(self) -> str | None:
        if isinstance(self.postgres, EmbeddedPostgres):
            return None
        return (f"the statement log is the embedded Postgres's server log; a Postgres named by "
                f"{ENV_URL} has none the harness can read (unset it)")

    def statement_log(self, db_url: str) -> StatementLog:
        postgres = self._embedded_postgres()
        name = str(psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
        log_statements(self.postgres_url, name)
        return StatementLog(postgres.log_path, name)

    def drop_database(self, url: str) -> None:
        if self.keep:
            return
        drop_database(self.postgres_url, url)
        name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        self._databases = [d for d in self._databases if d != name]

    def _drop_databases(self) -> None:
        if not isinstance(self.postgres, ExternalPostgres) or not self._databases:
            return  # an embedded cluster is removed whole
        with contextlib.suppress(psycopg.Error), psycopg.connect(
            self.postgres_url, autocommit=True, connect_timeout=5
        ) as conn:
            for name in self._databases:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def toxiproxy(self) -> ToxiproxyClient:
        if self._toxiproxy is None:
            raise EnvironmentStartError("the local environment is not started")
        return self._toxiproxy

    def create_links(self, label: str, postgres_url: str) -> Links:
        """Proxies for one trial's ``worker→postgres`` and ``worker→provider`` links."""
        toxiproxy = self.toxiproxy()
        suffix = labelled_name("", label)
        pg = psycopg.conninfo.conninfo_to_dict(postgres_url)
        pg_proxy = toxiproxy.create_proxy(
            f"pg_{suffix}", "127.0.0.1:0", f"{pg.get('host', '127.0.0.1')}:{pg.get('port', 5432)}"
        )
        provider = self.provider_url.removeprefix("http://").rstrip("/")
        llm_proxy = toxiproxy.create_proxy(f"llm_{suffix}", "127.0.0.1:0", provider)
        pg["host"], pg["port"] = pg_proxy.listen_host, str(pg_proxy.listen_port)
        return Links(
            postgres_url=psycopg.conninfo.make_conninfo(**pg),  # type: ignore[arg-type]
            provider_url=f"http://{llm_proxy.listen_host}:{llm_proxy.listen_port}",
            postgres_proxy=pg_proxy.name,
            provider_proxy=llm_proxy.name,
        )

    def remove_links(self, links: Links) -> None:
        delete_links(self.toxiproxy(), links)

    def create_service_link(self, label: str, service: str, url: str) -> tuple[str, str]:
        """A proxy on 127.0.0.1 in front of a SUT's own service (a local process)."""
        host, port = url_address(url)
        proxy = self.toxiproxy().create_proxy(
            f"svc_{labelled_name('', label)}_{service}", "127.0.0.1:0", f"{host}:{port}")
        return with_address(url, proxy.listen_host, proxy.listen_port), proxy.name

    def start_service(self, command: ServiceCommand) -> HostServiceProcess:
        """A SUT's service program as a process group on 127.0.0.1 (labelled with the run id)."""
        labelled = replace(command, env={**command.env, ENV_RUN_ID: self.run_id})
        return HostServiceProcess.launch(labelled, "127.0.0.1")

    def start_worker(
        self,
        name: str,
        executor_id: str,
        argv: Sequence[str],
        *,
        wait_ready: bool = True,
        extra_env: Mapping[str, str] | None = None,
        memory_limit_mb: int | None = None,
    ) -> WorkerProcess:
        """A worker process group; with ``memory_limit_mb``, inside its own memory cgroup."""
        cgroup = None
        if memory_limit_mb is not None:  # removed by the worker's stop()
            try:
                cgroup = memory_cgroup(f"{self.run_id}-{name}", memory_limit_mb << 20,
                                       run_id=self.run_id).create()
            except CgroupUnavailable as exc:
                raise CapabilityUnavailable(str(exc)) from exc
        log_path = self.work_dir / f"worker-{name}.log"
        worker = WorkerProcess(name, executor_id, argv, log_path, cgroup, self._forkserver)
        self._workers.append(worker)
        env = self._worker_env_base()
        # PGAPPNAME: the worker's Postgres sessions carry its name where the SUT names them
        # nothing itself, so the statement log can tell who sent a statement (sent_by).
        env.update(PYTHONUNBUFFERED="1", PGAPPNAME=name[:63], **{ENV_RUN_ID: self.run_id})
        env.update(extra_env or {})
        worker.start(env)
        if wait_ready:
            worker.wait_ready()
        return worker

    @staticmethod
    def _worker_env_base() -> dict[str, str]:
        # Not ENV_URL: it may hold a password, and workers get their (passfile) DSN from the SUT.
        return {k: v for k, v in os.environ.items() if k != ENV_URL}

    def _embedded_postgres(self) -> EmbeddedPostgres:
        if not isinstance(self.postgres, EmbeddedPostgres):
            raise CapabilityUnavailable(
                f"cannot crash or restart a Postgres named by {ENV_URL}; unset it to use the "
                "embedded one"
            )
        return self.postgres

    def crash_postgres(self) -> None:
        self._embedded_postgres().crash()

    def start_postgres(self) -> None:
        postgres = self._embedded_postgres()
        if not postgres.running:
            postgres.start()

    def stop_workers(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
