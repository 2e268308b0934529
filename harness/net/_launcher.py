"""Find or start a Toxiproxy server for a run: ``with toxiproxy_server(run_id) as server: ...``.

Which server (``mode="auto"``, in order):
1. ``TOXIPROXY_URL`` is set: that existing server (checked with ``GET /version``; never stopped);
2. a ``toxiproxy-server`` binary is on PATH: started on a free 127.0.0.1 port;
3. otherwise the embedded server: ``python -m harness.net serve --port 0``.

Started servers run in their own process group with output in a log file labelled with the run
id; they are readied by polling ``GET /version`` (a timeout error shows the log's last lines) and
stopped on exit (SIGTERM, then SIGKILL after a grace period), also when the body raised.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from . import errors
from ._proxy import join_address
from .client import ToxiproxyClient

ENV_URL = "TOXIPROXY_URL"
BINARY = "toxiproxy-server"
Mode = Literal["auto", "external", "binary", "embedded"]
_STOP_GRACE_S = 5.0


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None:
        return "(no log)"
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def _resolve(mode: Mode) -> Literal["external", "binary", "embedded"]:
    if mode != "auto":
        return mode
    if os.environ.get(ENV_URL):
        return "external"
    return "binary" if shutil.which(BINARY) else "embedded"


class ToxiproxyServer:
    """A Toxiproxy-compatible server for the duration of a ``with`` block."""

    def __init__(
        self, run_id: str = "adhoc", *, mode: Mode = "auto", start_timeout_s: float = 15.0
    ) -> None:
        self.run_id = run_id
        self.mode = _resolve(mode)
        self.start_timeout_s = start_timeout_s
        self.url = ""
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def client(self, timeout_s: float = 5.0) -> ToxiproxyClient:
        """A new client for this server (close it, or use it as a context manager)."""
        return ToxiproxyClient(self.url, timeout_s=timeout_s)

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> ToxiproxyServer:
        try:
            if self.mode == "external":
                self.url = os.environ.get(ENV_URL, "").rstrip("/")
                if not self.url:
                    raise errors.ToxiproxyUnavailableError(
                        f"mode 'external' needs {ENV_URL}, e.g. http://127.0.0.1:8474"
                    )
            elif self.mode == "binary":
                port = _free_port()
                self.url = f"http://{join_address('127.0.0.1', port)}"
                self._spawn([BINARY, "-host", "127.0.0.1", "-port", str(port)])
            else:
                self._spawn(self._embedded_command())
                self.url = self._announced_url()
            self._wait_ready()
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
        if exc_type is None and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    @staticmethod
    def _embedded_command() -> list[str]:
        return [sys.executable, "-m", "harness.net", "serve", "--host", "127.0.0.1", "--port", "0"]

    def _spawn(self, command: list[str]) -> None:
        handle, name = tempfile.mkstemp(prefix=f"durabench-toxiproxy-{self.run_id}-", suffix=".log")
        self.log_path = Path(name)
        env = dict(os.environ, PYTHONUNBUFFERED="1", DURABENCH_RUN_ID=self.run_id)
        project_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (project_root, env.get("PYTHONPATH")) if p)
        with os.fdopen(handle, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def _announced_url(self) -> str:
        """The embedded server's first line: ``listening on http://127.0.0.1:<port>``."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            assert self.log_path is not None
            first = self.log_path.read_text(errors="replace").partition("\n")
            if first[1] and first[0].startswith("listening on "):
                return first[0].removeprefix("listening on ").strip()
            time.sleep(0.02)
        raise self._not_ready("it did not print its address")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no attempt"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                response = httpx.get(f"{self.url}/version", timeout=1.0)
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if self.mode == "external":
                break
            time.sleep(0.05)
        raise self._not_ready(f"GET {self.url}/version failed ({last_error})")

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise self._not_ready(f"it exited with code {self._process.returncode}")

    def _not_ready(self, why: str) -> errors.ToxiproxyUnavailableError:
        hint = (
            f"check that {ENV_URL} points at a running Toxiproxy"
            if self.mode == "external"
            else "see the log above; unset TOXIPROXY_URL and remove toxiproxy-server from PATH "
            "to use the embedded server"
        )
        return errors.ToxiproxyUnavailableError(
            f"Toxiproxy ({self.mode}) for run {self.run_id!r} is not ready: {why}.\n"
            f"last log lines ({self.log_path}):\n{_tail(self.log_path)}\nhint: {hint}"
        )

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=_STOP_GRACE_S)


def toxiproxy_server(
    run_id: str = "adhoc", *, mode: Mode = "auto", start_timeout_s: float = 15.0
) -> ToxiproxyServer:
    """A context manager yielding a ready :class:`ToxiproxyServer` (see the module docstring)."""
    return ToxiproxyServer(run_id, mode=mode, start_timeout_s=start_timeout_s)
