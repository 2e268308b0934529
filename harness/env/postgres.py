"""Embedded Postgres: the `pgserver` wheel's binaries, listening on TCP 127.0.0.1.

pgserver's own launcher only listens on a Unix socket; durabench needs TCP because network faults
sit between the worker and Postgres. So this module runs the binaries itself.

Which binaries (:func:`postgres_bin_dir`): ``DURABENCH_POSTGRES_BIN`` when set; else pgserver's
(Postgres 16: plpgsql and vector only) when it has every extension the run's SUTs create (a
pinned DBOS 2.x creates ``uuid-ossp``); else the newest ``/usr/lib/postgresql/*/bin`` that has
them (Debian's ``postgresql`` + ``postgresql-contrib``); else one line saying what to install.

Lifecycle of :class:`EmbeddedPostgres`:
1. make a data dir labelled with the run id (owned by an unprivileged OS user when we are root:
   Postgres refuses to run as root);
2. ``initdb`` with password authentication (scram-sha-256 over TCP and the Unix socket) for a
   random per-run password, so no other local user can connect; the password lives only in a
   0600 passfile, and :attr:`EmbeddedPostgres.url` names that file (``?passfile=...``), never the
   password itself;
3. ``pg_ctl start`` on a free port (every Postgres process carries ``DURABENCH_RUN_ID`` in its
   environment, for the sweeper), waiting until a real query succeeds;
4. use it (``crash()`` / ``restart()`` are what the db_crash fault calls);
5. ``pg_ctl stop`` and remove the data dir, also when the body raised.

``DURABENCH_POSTGRES_URL`` points everything at an existing Postgres instead (see
:func:`postgres_from_env`): its password, if any, moves into a 0600 passfile as well, and a
connection failure is one line naming the variable, host and port.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from harness.env.created import temp_dir, temp_file
from harness.env.lifetime import ENV_RUN_ID
from harness.env.statements import LOG_LINE_PREFIX
from harness.net.ports import listen_port

ENV_URL = "DURABENCH_POSTGRES_URL"
ENV_BIN = "DURABENCH_POSTGRES_BIN"
"""A Postgres ``bin`` directory (``initdb``, ``pg_ctl``, ``postgres``) to run instead of
pgserver's."""
SYSTEM_BIN_GLOB = "/usr/lib/postgresql/*/bin"
CONTRIB_INSTALL = "apt-get install -y postgresql postgresql-contrib"
_UNPRIVILEGED_USER = "nobody"


class PostgresStartError(RuntimeError):
    """Raised when the embedded Postgres cannot be initialised or does not become ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``, outside the ephemeral range (Postgres
    restarts on it after a ``db_crash``: see :mod:`harness.net.ports`)."""
    return listen_port(host)


def _bin_dir() -> Path:
    """pgserver's bin directory."""
    # Located without importing pgserver: its import touches platformdirs and warns.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise PostgresStartError(
            "the 'pgserver' package is not installed; run the README's set-up command "
            f"or set {ENV_URL} to an existing Postgres"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def extension_dirs(bin_dir: Path) -> list[Path]:
    """Where the Postgres of ``bin_dir`` looks for extensions: ``<prefix>/share[/postgresql]``
    (pgserver, a source build) or Debian's ``/usr/share/postgresql/<major>`` for
    ``/usr/lib/postgresql/<major>/bin``."""
    prefix = bin_dir.parent
    found = [prefix / "share" / "postgresql" / "extension", prefix / "share" / "extension"]
    if prefix.parent == Path("/usr/lib/postgresql"):
        found.append(Path("/usr/share/postgresql") / prefix.name / "extension")
    return found


def missing_extensions(bin_dir: Path, extensions: Collection[str]) -> list[str]:
    """Those of ``extensions`` the Postgres of ``bin_dir`` cannot create (no control file)."""
    dirs = extension_dirs(bin_dir)
    return sorted(e for e in extensions if not any((d / f"{e}.control").is_file() for d in dirs))


def _major(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def postgres_bin_dir(extensions: Collection[str] = (), needed_by: str = "",
                     system_glob: str = SYSTEM_BIN_GLOB) -> Path:  # fmt: skip
    """The bin directory of the Postgres to run (module docstring). Raises
    :class:`PostgresStartError`, one line, when none has every extension in ``extensions``."""
    wanted = ", ".join(sorted(extensions))
    who = f" that {needed_by} needs" if needed_by else ""
    if os.environ.get(ENV_BIN):
        chosen = Path(os.environ[ENV_BIN])
        if not (chosen / "initdb").is_file():
            raise PostgresStartError(f"{ENV_BIN}={chosen} has no initdb; point it at a Postgres "
                                     "bin directory, or unset it")  # fmt: skip
        lacking = missing_extensions(chosen, extensions)
        if lacking:
            raise PostgresStartError(
                f"the Postgres of {ENV_BIN}={chosen} lacks the extension(s) "
                f"{', '.join(lacking)}{who}; install its contrib package or unset {ENV_BIN}")
        return chosen
    if not extensions or not missing_extensions(_bin_dir(), extensions):
        return _bin_dir()
    import glob

    found = [Path(p) for p in glob.glob(system_glob) if (Path(p) / "initdb").is_file()]
    for candidate in sorted(found, key=_major, reverse=True):
        if not missing_extensions(candidate, extensions):
            return candidate
    raise PostgresStartError(
        f"the embedded Postgres (pgserver) lacks the extension(s) {wanted}{who}, and no Postgres "
        f"with them is installed here ({system_glob}); run `{CONTRIB_INSTALL}` (Debian/Ubuntu), "
        f"or set {ENV_BIN} to the bin directory of a Postgres that has them")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


@dataclass(frozen=True)
class PostgresInfo:
    """Where a Postgres listens. ``url`` never carries a password: it names the passfile."""

    host: str
    port: int
    user: str = "postgres"
    dbname: str = "postgres"
    passfile: Path | None = None

    @property
    def url(self) -> str:
        url = f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"
        return f"{url}?passfile={self.passfile}" if self.passfile else url


def write_passfile(path: Path, user: str, password: str) -> Path:
    """A libpq passfile (mode 0600) giving ``password`` for ``user`` on any host and port (the
    file is per server, and Toxiproxy links reach it on other ports)."""
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace(":", "\\:")

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"*:*:*:{escape(user)}:{escape(password)}\n")
    return path


class EmbeddedPostgres:
    """A throwaway Postgres on 127.0.0.1 (pgserver's 16, or :func:`postgres_bin_dir`'s choice
    for ``extensions``), as a context manager."""

    def __init__(
        self,
        *,
        run_id: str = "adhoc",
        host: str = "127.0.0.1",
        port: int | None = None,
        base_dir: Path | None = None,
        start_timeout: float = 120.0,  # crash recovery on a loaded machine can take a minute
        extensions: Collection[str] = (),
        needed_by: str = "",
    ) -> None:
        self.bin_dir = postgres_bin_dir(extensions, needed_by)
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
    def passfile(self) -> Path:
        return self.root / "pgpass"

    @property
    def info(self) -> PostgresInfo:
        return PostgresInfo(self.host, self.port, passfile=self.passfile)

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
        self._root = temp_dir(self.run_id, f"durabench-pg-{self.run_id}-", dir=self._base_dir)
        self._root.chmod(0o755)
        (self._root / "sock").mkdir()
        password = secrets.token_urlsafe(24)
        pwfile = write_passfile(self._root / "initdb.pw", "postgres", password)
        pwfile.write_text(password + "\n")  # initdb wants the bare password
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            for path in (self._root, self._root / "sock", pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._run(
                [
                    str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                    "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                    f"--pwfile={pwfile}", "--encoding=UTF8", "--no-instructions",
                ],
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        write_passfile(self.passfile, "postgres", password)

    def start(self) -> None:
        """Start (or restart after :meth:`crash`) the server and wait until a query succeeds."""
        options = (
            f"-h {self.host} -p {self.port} -k {self.root / 'sock'} "
            "-c max_connections=300 -c shared_buffers=64MB"
            # Checkpoints often enough that a crash replays little WAL: every trial database
            # is a WAL-logged copy of the template (~8 MB), so after a few hundred trials the
            # db_crash fault's restart replayed so much that it took 40-90 s on a loaded machine.
            " -c max_wal_size=64MB -c min_wal_size=32MB -c checkpoint_timeout=30s"
            # After a crash Postgres fsyncs every file of the data directory before it redoes
            # anything; with the files of a few hundred trial databases that took over 110 s on
            # a loaded machine (its db_crash heal, and the shared outage, grew with the session's
            # length). One syncfs() of the file system does the same job at once.
            " -c recovery_init_sync_method=syncfs"
            # Names the database on each session's lines: a trial's statement log
            # (harness/env/statements.py) reads its own database's statements from this file.
            f" -c log_line_prefix='{LOG_LINE_PREFIX}'"
        )
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
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
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
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
                env=dict(os.environ, **{ENV_RUN_ID: self.run_id}),
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


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (a :func:`create_database` one) on ``admin_url``'s server,
    ending its sessions (``WITH (FORCE)``)."""
    import psycopg
    from psycopg import sql

    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(str(name))))


def _one_line(text: str, secret: str = "") -> str:
    text = " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return text.replace(secret, "***") if secret else text


def _unreachable(host: str, port: str, reason: str) -> NoReturn:
    """Raised from its own frame so a traceback never shows the arguments that held a password."""
    raise PostgresStartError(
        f"cannot connect to the Postgres named by {ENV_URL} (host {host}, port {port}): {reason}; "
        f"check that it runs and accepts this user, or unset {ENV_URL} to use an embedded one"
    )


def _invalid_url(reason: str) -> NoReturn:
    raise PostgresStartError(
        f"{ENV_URL} is not a Postgres URL ({reason}); expected postgresql://USER[:PASSWORD]@HOST"
        ":PORT/DBNAME"
    )


class ExternalPostgres:
    """An existing Postgres named by URL; entering it checks that it answers, and starts and
    stops nothing. A password in the URL moves into a 0600 passfile (removed on exit):
    :attr:`url` names the file, so no argv, log or traceback of ours can show the password."""

    def __init__(self, url: str, *, run_id: str = "adhoc") -> None:
        import psycopg

        try:
            params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            # libpq quotes pieces of the string (which may be the password): leave them out
            _invalid_url(re.sub(r'"[^"]*"', '"..."', _one_line(str(exc))))
        self.host = str(params.get("host") or "localhost")
        self.port = str(params.get("port") or "5432")
        self._passfile: Path | None = None
        password = params.pop("password", None)
        if password:
            handle, path = temp_file(run_id, f"durabench-{run_id}-pgpass-")
            os.close(handle)
            name = str(path)
            self._passfile = write_passfile(
                Path(name), str(params.get("user") or "*"), str(password)
            )
            params["passfile"] = name
        self.url: str = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ExternalPostgres(host={self.host!r}, port={self.port!r})"

    def __enter__(self) -> ExternalPostgres:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            reason = _one_line(str(exc))
        else:
            return self
        self._remove_passfile()
        _unreachable(self.host, self.port, reason)

    def __exit__(self, *exc: object) -> None:
        self._remove_passfile()

    def _remove_passfile(self) -> None:
        if self._passfile is not None:
            self._passfile.unlink(missing_ok=True)
            self._passfile = None


@contextlib.contextmanager
def postgres_from_env(run_id: str = "adhoc") -> Iterator[EmbeddedPostgres | ExternalPostgres]:
    """``DURABENCH_POSTGRES_URL`` when set, otherwise a fresh embedded server."""
    if os.environ.get(ENV_URL):
        with ExternalPostgres(os.environ[ENV_URL], run_id=run_id) as external:
            yield external
        return
    with EmbeddedPostgres(run_id=run_id) as embedded:
        yield embedded
