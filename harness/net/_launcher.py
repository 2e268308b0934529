"""Find or start a Toxiproxy server for a run: ``with toxiproxy_server(run_id) as server: ...``.

Which server (``mode="auto"``, in order):
1. ``TOXIPROXY_URL`` is set: that existing server (checked with ``GET /version``; never stopped);
2. ``DURABENCH_TOXIPROXY_SERVER`` names a ``toxiproxy-server`` binary (a path): started on a free
   127.0.0.1 port; the value ``embedded`` forces the embedded server instead;
3. a ``toxiproxy-server`` binary is on PATH: started the same way;
4. otherwise the embedded server: ``python -m harness.net serve --port 0``.

When ``DURABENCH_REQUIRE`` names ``toxiproxy``, step 4 is an error: CI must not pass on the
fallback. Started servers run in their own process group with output in a log file labelled with
the run id; they are readied by polling ``GET /version`` and stopped on exit (SIGTERM, then SIGKILL
after a grace period), also when the body raised. A binary that exits, never answers, or reports
a version older than :data:`MIN_VERSION` raises :class:`ToxiproxyUnavailableError` with its log's
last lines and what to do; an unreachable ``TOXIPROXY_URL`` raises it with one line naming it.
Every ready server has an :attr:`~ToxiproxyServer.identity` (``real 2.12.0`` or ``embedded``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

import requests

from . import errors
from ._identity import MIN_VERSION, Identity, identify, parse_version
from ._proxy import join_address
from .client import ToxiproxyClient

ENV_URL = "TOXIPROXY_URL"
ENV_SERVER = "DURABENCH_TOXIPROXY_SERVER"
ENV_REQUIRE = "DURABENCH_REQUIRE"
BINARY = "toxiproxy-server"
Mode = Literal["auto", "external", "binary", "embedded"]
_STOP_GRACE_S = 5.0
_GET_REAL = (
    "get a real one: scripts/build-toxiproxy.sh TARBALL OUT_DIR, your package manager, "
    "`go install github.com/Shopify/toxiproxy/v2/cmd/server@latest`, or "
    "`docker run --net=host ghcr.io/shopify/toxiproxy` with TOXIPROXY_URL (README, Toxiproxy)"
)


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


def find_binary() -> str | None:
    """The ``toxiproxy-server`` the auto mode would start (None: none, or forced embedded)."""
    configured = os.environ.get(ENV_SERVER, "").strip()
    if configured == "embedded":
        return None
    if configured:
        return configured
    return shutil.which(BINARY)


def _requires_real() -> bool:
    return "toxiproxy" in {n.strip() for n in os.environ.get(ENV_REQUIRE, "").split(",")}


def _resolve(mode: Mode) -> Literal["external", "binary", "embedded"]:
    if mode != "auto":
        return mode
    if os.environ.get(ENV_URL):
        return "external"
    if find_binary():
        return "binary"
    if _requires_real():
        raise errors.ToxiproxyUnavailableError(
            f"{ENV_REQUIRE} names toxiproxy, but there is no real Toxiproxy here ({ENV_URL} "
            f"unset, {ENV_SERVER} unset and no {BINARY} on PATH); {_GET_REAL}"
        )
    return "embedded"


class ToxiproxyServer:
    """A Toxiproxy-compatible server for the duration of a ``with`` block."""

    def __init__(
        self, run_id: str = "adhoc", *, mode: Mode = "auto", start_timeout_s: float = 15.0
    ) -> None:
        self.run_id = run_id
        self.mode = _resolve(mode)
        self.start_timeout_s = start_timeout_s
        self.binary = (find_binary() or BINARY) if self.mode == "binary" else None
        self.url = ""
        self.log_path: Path | None = None
        self.identity: Identity | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def client(self, timeout_s: float = 30.0) -> ToxiproxyClient:
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
                assert self.binary is not None
                port = _free_port()
                self.url = f"http://{join_address('127.0.0.1', port)}"
                self._spawn([self.binary, "-host", "127.0.0.1", "-port", str(port)])
            else:
                self._spawn(self._embedded_command())
                self.url = self._announced_url()
            self.identity = self._check_version(self._wait_ready())
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
        from harness.env.created import temp_file  # lazily: harness.env imports harness.net

        handle, self.log_path = temp_file(self.run_id, f"durabench-toxiproxy-{self.run_id}-",
                                          ".log")
        env = dict(os.environ, PYTHONUNBUFFERED="1", DURABENCH_RUN_ID=self.run_id)
        project_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (project_root, env.get("PYTHONPATH")) if p)
        with os.fdopen(handle, "wb") as log:
            try:
                self._process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                why = f"{command[0]} cannot be run ({exc.strerror or exc})"
                raise self._not_ready(why) from exc

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

    def _wait_ready(self) -> str:
        """Poll ``GET /version`` until it answers 200; returns the version it reports."""
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no attempt"
        while time.monotonic() < deadline:
            self._check_alive()
            try:  # requests, not httpx: httpx.get builds a TLS context per call (20-100 ms)
                response = requests.get(f"{self.url}/version", timeout=1.0)
                if response.status_code == 200:
                    return _version_of(response)
                last_error = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last_error = _reason(exc)
            if self.mode == "external":
                raise errors.ToxiproxyUnavailableError(
                    f"{ENV_URL}={self.url} does not answer GET /version ({last_error}); start "
                    f"Toxiproxy there, fix the URL, or unset {ENV_URL} to let durabench start one"
                )
            time.sleep(0.05)
        raise self._not_ready(f"GET {self.url}/version failed ({last_error})")

    def _check_version(self, version: str) -> Identity:
        identity = identify(version)
        parsed = parse_version(version)
        if identity.kind == "real" and parsed is not None and parsed < MIN_VERSION:
            wanted = ".".join(map(str, MIN_VERSION))
            raise self._not_ready(
                f"it reports version {version!r}; durabench needs Toxiproxy >= {wanted} "
                "(/populate, limit_data, JSON errors)"
            )
        return identity

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise self._not_ready(f"it exited with code {self._process.returncode}")

    def _not_ready(self, why: str) -> errors.ToxiproxyUnavailableError:
        if self.mode == "external":
            hint = f"check that {ENV_URL} points at a running Toxiproxy >= 2.1, or unset it"
        elif self.mode == "binary":
            hint = (
                f"fix or replace {self.binary}, or set {ENV_SERVER}=embedded to use the embedded "
                f"server instead; {_GET_REAL}"
            )
        else:
            hint = "see the log above; the embedded server is `python -m harness.net serve`"
        where = self.binary if self.mode == "binary" else self.mode
        return errors.ToxiproxyUnavailableError(
            f"Toxiproxy ({where}) for run {self.run_id!r} is not ready: {why}.\n"
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


def _reason(exc: BaseException) -> str:
    """The innermost cause, e.g. ``[Errno 111] Connection refused``, not urllib3's retry text."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    return f"{type(exc).__name__}: {exc}"[:160]


def _version_of(response: requests.Response) -> str:
    """``{"version": "2.12.0"}`` (2.1.3+), or the plain text of older servers."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()
    return str(data.get("version", "")) if isinstance(data, dict) else str(data)


def toxiproxy_server(
    run_id: str = "adhoc", *, mode: Mode = "auto", start_timeout_s: float = 15.0
) -> ToxiproxyServer:
    """A context manager yielding a ready :class:`ToxiproxyServer` (see the module docstring)."""
    return ToxiproxyServer(run_id, mode=mode, start_timeout_s=start_timeout_s)
