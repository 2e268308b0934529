"""Embedded Postgres: the `pgserver` wheel's binaries, listening on TCP 127.0.0.1.

pgserver's own launcher only listens on a Unix socket; durabench needs TCP because network faults
sit between the worker and Postgres. So this module runs the binaries itself.

Lifecycle of :class:`EmbeddedPostgres`:
1. make a data dir labelled with the run id (owned by an unprivileged OS user when we are root:
   Postgres refuses to run as root);
2. ``initdb`` (trust auth, loopback only);
3. ``pg_ctl start`` on a free port, waiting until a real query succeeds;
4. use it (``crash()`` / ``restart()`` are what the db_crash fault calls);
5. ``pg_ctl stop`` and remove the data dir, also when the body raised.

``DURABENCH_POSTGRES_URL`` points everything at an existing Postgres instead (see
:func:`postgres_from_env`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

ENV_URL = "DURABENCH_POSTGRES_URL"
_UNPRIVILEGED_USER = "nobody"


class PostgresStartError(RuntimeError):
    """Raised when the embedded Postgres cannot be initialised or does not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _bin_dir() -> Path:
    # Located without importing pgserver: its import touches platformdirs and warns.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise PostgresStartError(
            "the 'pgserver' package is not installed; run the README's set-up command "
            f"or set {ENV_URL} to an existing Postgres"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


@dataclass(frozen=True)
class PostgresInfo:
    """Where a Postgres listens. ``url`` never carries a password for the embedded server."""

    host: str
    port: int
    user: str = "postgres"
    dbname: str = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


class EmbeddedPostgres:
    """A throwaway Postgres 16 on 127.0.0.1, as a context manager."""

    def __init__(
        self,
        *,
        run_id: str = "adhoc",
        host: str = "127.0.0.1",
        port: int | None = None,
        base_dir: Path | None = None,
        start_timeout: float = 120.0,  # crash recovery on a loaded machine can take a minute
    ) -> None:
        self.run_id = run_id
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout = start_timeout
        self._base_dir = base_dir
        self._root: Path | None = None
        self._run_as: str | None = _UNPRIVILEGED_USER if os.geteuid() == 0 else None

    # -- paths ---------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        if self._root is None:
            raise PostgresStartError("embedded Postgres was not started")
        return self._root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def info(self) -> PostgresInfo:
        return PostgresInfo(self.host, self.port)

    @property
    def url(self) -> str:
        return self.info.url

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedPostgres:
        try:
            self._init()
            self.start()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop(mode="immediate")
        finally:
            self._remove()

    def _init(self) -> None:
        self._root = Path(
            tempfile.mkdtemp(prefix=f"durabench-pg-{self.run_id}-", dir=self._base_dir)
        )
        self._root.chmod(0o755)
        (self._root / "sock").mkdir()
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            for path in (self._root, self._root / "sock"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            "initdb",
        )

    def start(self) -> None:
        """Start (or restart after :meth:`crash`) the server and wait until a query succeeds."""
        options = (
            f"-h {self.host} -p {self.port} -k {self.root / 'sock'} "
            "-c max_connections=300 -c shared_buffers=64MB"
        )
        self._run(
            [
                str(_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                str(int(self.start_timeout)),
                "start",
            ],
            "pg_ctl start",
        )
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode='immediate'`` is a crash (no shutdown checkpoint)."""
        if self._root is None or not (self.data_dir / "postmaster.pid").exists():
            return
        self._run(
            [str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            "pg_ctl stop",
            check=False,
        )

    @property
    def running(self) -> bool:
        """Whether a postmaster holds the data dir (its pid file exists and the pid is alive)."""
        pid_file = self.data_dir / "postmaster.pid" if self._root is not None else None
        if pid_file is None or not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    def crash(self) -> None:
        """Immediate shutdown: what a power cut or OOM kill of the postmaster looks like."""
        self.stop(mode="immediate")

    def restart(self) -> None:
        self.stop(mode="fast")
        self.start()

    def _remove(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    # -- machinery -----------------------------------------------------------------------------
    def _run(self, argv: list[str], what: str, *, check: bool = True) -> None:
        out_path = self.root / f"{what.replace(' ', '_')}.out"
        with open(out_path, "wb") as out:
            if self._run_as is not None:
                os.chown(out_path, pwd.getpwnam(self._run_as).pw_uid, -1)
            proc = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self._run_as,
                cwd=self.root,
                check=False,
                timeout=self.start_timeout + 30,
            )
        if check and proc.returncode != 0:
            raise PostgresStartError(
                f"{what} failed with exit code {proc.returncode} (data dir {self.data_dir}, "
                f"port {self.port}).\n--- {what} output ---\n{_tail(out_path)}\n"
                f"--- server log ---\n{_tail(self.log_path)}\n"
                "Hint: is the port taken? Is the disk full? "
                f"Or set {ENV_URL} to use an existing Postgres."
            )

    def _wait_ready(self) -> None:
        last = query_error_after(self.url, self.start_timeout)
        if last is None:
            return
        raise PostgresStartError(
            f"Postgres on {self.host}:{self.port} did not answer a query within "
            f"{self.start_timeout:.0f}s ({last}).\n--- server log ---\n{_tail(self.log_path)}"
        )


def query_error_after(url: str, timeout_s: float, interval_s: float = 0.05) -> str | None:
    """Poll until a query succeeds on ``url`` (None) or ``timeout_s`` passes (the last error).

    A real query, not the first "ready" log line: Postgres logs that before it accepts TCP.
    """
    import psycopg

    deadline, last = time.monotonic() + timeout_s, "no attempt"
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.Error as exc:
            last = str(exc).strip()
            time.sleep(interval_s)
    return last


def labelled_name(prefix: str, label: str, *, length: int = 40) -> str:
    """``<prefix><label, as a safe identifier>_<random>``: unique names for per-trial databases and
    proxies that still say which trial they belong to."""
    return prefix + re.sub(r"[^a-z0-9_]", "_", label.lower())[:length] + "_" + uuid.uuid4().hex[:8]


def create_database(admin_url: str, label: str) -> str:
    """Create a fresh database named after ``label``; returns the URL of it (same server)."""
    import psycopg
    from psycopg import sql

    name = labelled_name("t_", label)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


class ExternalPostgres:
    """An existing Postgres named by URL; entering and leaving it starts and stops nothing."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> ExternalPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@contextlib.contextmanager
def postgres_from_env(run_id: str = "adhoc") -> Iterator[EmbeddedPostgres | ExternalPostgres]:
    """``DURABENCH_POSTGRES_URL`` when set, otherwise a fresh embedded server."""
    url = os.environ.get(ENV_URL)
    if url:
        with ExternalPostgres(url) as external:
            yield external
        return
    with EmbeddedPostgres(run_id=run_id) as embedded:
        yield embedded
