"""Worker processes forked from a pre-imported interpreter: the local environment's fork server.

A worker is ``python -m harness.sut.<runtime>.worker ...``. Most of its start-up CPU (1.0-1.6 s
on the 2-core machine) is importing its runtime and the OpenAI SDK, paid again by every worker of
every trial: on a full suite, the largest share of the machine's CPU. The fork server imports those
libraries once per run and forks one worker per request. A forked worker is still a process of its
own, as ``python -m`` would start it: its own pid, session and process group, its log file as
stdout and stderr, stdin from /dev/null, its environment and argv, the module run as ``__main__``;
it is killed with real signals and its exit status is the kernel's.

Contract:
- ``python -u harness/env/forkserver.py SOCKET`` (by path, so that no harness module is imported
  before a worker runs; it then looks modules up from its working directory as ``-m`` does)
  pre-imports :data:`PRELOAD` (each one that is
  installed; only third-party libraries, never the harness's own modules, so a worker runs the
  code on disk), prints ``ready`` (or ``refused: <why>``: a pre-import started a thread, which
  ``fork`` would copy mid-lock), then serves on the Unix socket SOCKET (mode 0600) until its
  stdin closes. Then it SIGKILLs the process groups of the workers still running and exits.
  Its environment carries the run id, so it and every worker it forks (whose ``/proc/PID/environ``
  is the server's) are found by ``durabench sweep`` and the run's watchdog.
- One connection per worker: the client sends one JSON line ``{"module", "args", "env", "log"}``;
  the server answers ``{"pid": N}`` once forked, then ``{"exit": CODE}`` once it has reaped the
  worker (CODE as ``Popen.returncode``: negative for a signal) and closes the connection.
- :meth:`ForkServer.spawn` forks only what a fresh interpreter would run alike: argv
  ``[sys.executable, "-m", module, ...]``, from the server's working directory, with the same
  ``PYTHON*`` variables. Anything else (a pinned release's own interpreter, another directory)
  gets None, and the caller starts it the usual way. So does everything when the server is off
  (``DURABENCH_FORKSERVER=off``), refused, or gone.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # run by path: find modules from the working directory, as -m does
    sys.path[0] = os.getcwd()

import atexit
import contextlib
import ctypes
import gc
import importlib
import json
import runpy
import select
import selectors
import signal
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

ENV_FORKSERVER = "DURABENCH_FORKSERVER"

#: Imported once by the server: the runtimes' libraries and the model client every worker loads.
PRELOAD = (
    "openai",
    "httpx",
    "psycopg",
    "psycopg_pool",
    "dbos",
    "temporalio.client",
    "temporalio.worker",
    "temporalio.workflow",
    "langgraph.func",
    "langgraph.types",
    "langgraph.checkpoint.postgres",
)

READY_TIMEOUT_S = 60.0
TITLE_ROOM = " " * 2048
"""The server's last argument, blank: room in its argv for a forked worker's command line."""


def forkserver_enabled() -> bool:
    """False when ``DURABENCH_FORKSERVER`` is ``off`` (or 0/false/no): every worker is exec'd."""
    return os.environ.get(ENV_FORKSERVER, "on").strip().lower() not in ("off", "0", "false", "no")


def _python_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that shape an interpreter at start-up (a forked one keeps the server's)."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON") and k != "PYTHONUNBUFFERED"}


# -- the client side ---------------------------------------------------------------------------
class ForkedProcess:
    """A worker the fork server forked: ``subprocess.Popen``'s ``pid``, ``returncode``,
    ``poll()`` and ``wait(timeout)``, its exit status read from the server's connection."""

    def __init__(self, pid: int, conn: socket.socket, buffered: bytes, args: Sequence[str]) -> None:
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None
        self._conn: socket.socket | None = conn
        self._buffer = buffered
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                self._read(0.0)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self.returncode is None:
                    self._read(0.05)
                if self.returncode is not None:
                    return self.returncode
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)

    def _read(self, timeout: float) -> None:
        if self._conn is None:  # the server went away: all that is left is whether it lives
            if _gone(self.pid):
                self.returncode = -signal.SIGKILL
            return
        if b"\n" not in self._buffer:
            ready, _, _ = select.select([self._conn], [], [], timeout)
            if not ready:
                return
            try:
                data = self._conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                self._close()
                return
            self._buffer += data
            if b"\n" not in self._buffer:
                return
        line, _, self._buffer = self._buffer.partition(b"\n")
        self.returncode = int(json.loads(line)["exit"])
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _gone(pid: int) -> bool:
    from harness.env.lifetime import process_start_time

    return process_start_time(pid) is None


@dataclass
class _Server:
    popen: subprocess.Popen[bytes]
    socket_path: Path
    cwd: str
    python_env: dict[str, str]


class ForkServer:
    """The run's fork server (a context manager; see the module docstring). Started at once, in
    the background; the first :meth:`spawn` waits for its pre-imports. It dies with the context,
    or with this process: its stdin is a pipe only this process holds."""

    def __init__(self, work_dir: Path, env: Mapping[str, str]) -> None:
        self.work_dir = work_dir
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.refused: str | None = None
        self._server: _Server | None = None
        self._ready = False
        self._lock = threading.Lock()

    def __enter__(self) -> ForkServer:
        socket_path = self.work_dir / "forkserver.sock"
        log = open(self.work_dir / "forkserver.log", "ab")
        try:
            popen = subprocess.Popen(
                [sys.executable, "-u", __file__, str(socket_path), TITLE_ROOM],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, env=self.env,
            )  # fmt: skip
        except OSError as exc:
            self.refused = f"could not start: {exc}"
            return self
        finally:
            log.close()
        self._server = _Server(popen, socket_path, os.getcwd(), _python_env(self.env))
        return self

    def __exit__(self, *exc: object) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with contextlib.suppress(OSError):
            if server.popen.stdin is not None:
                server.popen.stdin.close()  # the server kills what it still runs, then exits
        try:
            server.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.popen.kill()
            server.popen.wait()
        if server.popen.stdout is not None:
            server.popen.stdout.close()

    def _serving(self) -> _Server | None:
        """The server once it is ready; None when it refused, failed or is gone."""
        with self._lock:
            server = self._server
            if server is None or self.refused is not None:
                return None
            if not self._ready:
                line = _read_line(server.popen.stdout, READY_TIMEOUT_S)
                if line != "ready":
                    self.refused = line or "no ready line (see forkserver.log)"
                    return None
                self._ready = True
            if server.popen.poll() is not None:
                self.refused = f"exited with code {server.popen.returncode}"
                return None
            return server

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> ForkedProcess | None:
        """Fork ``argv`` (``python -m module ...``) with ``env``, stdout and stderr appended to
        ``log_path``; None when it must be exec'd instead (see the module docstring)."""
        if len(argv) < 3 or argv[0] != sys.executable or argv[1] != "-m":
            return None
        server = self._serving()
        if server is None or os.getcwd() != server.cwd or _python_env(env) != server.python_env:
            return None
        with open(log_path, "ab"):  # there before the worker is, as with an exec'd one
            pass
        request = {"module": argv[2], "args": list(argv[3:]), "env": dict(env),
                   "log": str(log_path)}  # fmt: skip
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(30.0)
            conn.connect(str(server.socket_path))
            conn.sendall(json.dumps(request).encode() + b"\n")
            buffered = b""
            while b"\n" not in buffered:
                data = conn.recv(4096)
                if not data:
                    raise OSError("the fork server closed the connection")
                buffered += data
            conn.settimeout(None)
        except OSError as exc:
            conn.close()
            self.refused = f"spawn failed: {exc}"
            return None
        line, _, rest = buffered.partition(b"\n")
        return ForkedProcess(int(json.loads(line)["pid"]), conn, rest, argv)


def _read_line(stream: IO[bytes] | None, timeout_s: float) -> str:
    if stream is None:
        return ""
    ready, _, _ = select.select([stream], [], [], timeout_s)
    return stream.readline().decode(errors="replace").strip() if ready else ""


# -- the server side ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Request:
    module: str
    args: tuple[str, ...]
    env: dict[str, str]
    log: str


def _preload() -> str | None:
    """Import :data:`PRELOAD`; why forking is unsafe afterwards, or None."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.freeze()  # a worker's collections never touch (and copy) the pre-imported objects
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        return f"refused: the pre-imports left {threads} threads (fork copies only one)"
    return None


def _read_request(conn: socket.socket) -> _Request:
    conn.settimeout(10.0)
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("the client closed before its request")
        data += chunk
    raw = json.loads(data.partition(b"\n")[0])
    return _Request(str(raw["module"]), tuple(map(str, raw["args"])),
                    {str(k): str(v) for k, v in raw["env"].items()}, str(raw["log"]))  # fmt: skip


class _Serving:
    """The server's loop: accept, fork, reap, report; in a forked child :meth:`run` returns the
    child's request instead (every server resource closed)."""

    def __init__(self, socket_path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        old_umask = os.umask(0o177)
        try:
            self.listener.bind(socket_path)
        finally:
            os.umask(old_umask)
        self.listener.listen(64)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "reap")
        self.children: dict[int, socket.socket] = {}

    def run(self) -> _Request | None:
        while True:
            for key, _ in self.selector.select():
                if key.data == "stdin":
                    if not os.read(sys.stdin.fileno(), 4096):
                        self._kill_children()
                        return None
                elif key.data == "reap":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_r, 4096):
                            pass
                    self._reap()
                else:
                    request = self._accept()
                    if request is not None:
                        return request

    def _accept(self) -> _Request | None:
        conn, _ = self.listener.accept()
        try:
            request = _read_request(conn)
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            print(f"forkserver: bad request: {exc}", file=sys.stderr)
            conn.close()
            return None
        pid = os.fork()
        if pid == 0:
            conn.close()
            self._close_in_child()
            return request
        self.children[pid] = conn
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        return None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode()
                                 + b"\n")  # fmt: skip
                conn.close()

    def _kill_children(self) -> None:
        for pid in self.children:
            for signum in (signal.SIGCONT, signal.SIGKILL):  # a paused group dies once resumed
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signum)

    def _close_in_child(self) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        self.listener.close()
        for conn in self.children.values():
            conn.close()
        self.children.clear()
        os.close(self.wake_r)
        os.close(self.wake_w)


def _show_command_line(argv: Sequence[str]) -> None:
    """Make ``/proc/self/cmdline`` (what ``ps`` and ``durabench sweep`` show) ``argv``: written
    over this process's own argv area (the server's argv, its last argument blank room), as
    ``setproctitle`` does, leaving its environment (the run id label) alone."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    except (OSError, IndexError, ValueError):
        return
    size = end - start
    data = b"\0".join(a.encode(errors="replace") for a in argv)[: size - 1]
    ctypes.memmove(start, data.ljust(size, b"\0"), size)


def _run_child(request: _Request) -> int:
    """Become ``python -m <module> <args>``: own session, log as stdout/stderr, its env; returns
    the exit code Python would give it."""
    os.setsid()
    command_line = [sys.executable, "-m", request.module, *request.args]
    _show_command_line(command_line)
    sys.orig_argv = command_line  # the interpreter's own record of how it was started
    log = os.open(request.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(request.env)
    sys.argv = [request.module, *request.args]
    try:
        runpy.run_module(request.module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _exit_fast(code: int) -> NoReturn:
    """End a forked worker as the interpreter would (join its threads, run its atexit hooks,
    flush) minus the teardown of every module: freeing the server's objects would copy each page
    they live on (0.6 s of CPU per worker here)."""
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        with contextlib.suppress(BaseException):
            shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and not args[-1].strip():
        args = args[:-1]  # the blank room for the workers' command lines
    if len(args) != 1:
        print("usage: python -u harness/env/forkserver.py SOCKET", file=sys.stderr)
        return 2
    refused = _preload()
    if refused is not None:
        print(refused, flush=True)
        return 1
    serving = _Serving(args[0])
    print("ready", flush=True)
    request = serving.run()
    if request is None:
        return 0
    _exit_fast(_run_child(request))  # the forked worker


if __name__ == "__main__":
    sys.exit(main())
