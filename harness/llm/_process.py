"""``ProviderProcess``: the provider as a subprocess of the harness.

Lifecycle:
1. make a work dir (``log_dir``, or a temp dir labelled ``durabench-<run_id>-provider-``) holding
   the log and, unless ``ledger_path`` is given, the ledger;
2. launch ``python -m harness.llm serve --port 0 ...`` in its own process group, stdout and stderr
   to a log file (never an undrained pipe);
3. wait for the ``listening on URL`` line (timeout or early exit raise
   :class:`ProviderStartError` with the log's last lines), then expose ``.url``;
4. ``restart()`` stops it and starts it again on the same port and the same ledger;
5. on exit: SIGTERM to the group, SIGKILL after a grace period, and the temp dir (if we made it)
   is removed — pass ``ledger_path`` / ``log_dir`` to keep the files.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import harness
from harness.llm._errors import ProviderStartError

_LISTENING = re.compile(r"^listening on (http://\S+)$", re.MULTILINE)
_PROJECT_ROOT = Path(harness.__file__).resolve().parent.parent


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


class ProviderProcess:
    """The mock LLM provider running in its own process group (a context manager)."""

    def __init__(
        self, *, ledger_path: Path | None = None, script: Path | None = None, seed: int = 0,
        tokens_per_second: float = 5000, run_id: str = "adhoc", log_dir: Path | None = None,
        prices: Path | None = None, start_timeout_s: float = 20.0, stop_grace_s: float = 5.0,
        response_ttl_s: float | None = None,
    ) -> None:
        self.run_id = run_id
        self._own_dir = log_dir is None
        self.work_dir = Path(
            _recorded_temp_dir(run_id) if log_dir is None else log_dir
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.ledger_path = ledger_path or self.work_dir / "ledger.jsonl"
        self._options = [
            "--ledger", str(self.ledger_path), "--seed", str(seed),
            "--tokens-per-second", str(tokens_per_second), "--run-id", run_id,
        ]
        self._options += ["--script", str(script)] if script else []
        self._options += ["--prices", str(prices)] if prices else []
        if response_ttl_s is not None:
            self._options += ["--response-ttl", str(response_ttl_s)]
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._starts = 0
        self._last_port = 0
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running provider."""
        if self._url is None:
            raise ProviderStartError("the provider is not running; use it inside `with`")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, port: int = 0) -> None:
        """Launch the provider and wait until it listens."""
        if self._proc is not None:
            raise ProviderStartError("the provider is already running; stop() it first")
        self._starts += 1
        self.log_path = self.work_dir / f"provider-{self.run_id}-{self._starts}.log"
        # The provider needs no database: keep a password in DURABENCH_POSTGRES_URL away from it.
        env = {k: v for k, v in os.environ.items() if k != "DURABENCH_POSTGRES_URL"}
        env["DURABENCH_RUN_ID"] = self.run_id
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        command = [sys.executable, "-m", "harness.llm", "serve", "--port", str(port),
                   *self._options]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )
        try:
            self._url = self._await_listening()
            self._last_port = self.port
        except BaseException:
            self.stop()
            raise

    def _await_listening(self) -> str:
        assert self._proc is not None and self.log_path is not None
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self._proc.poll() is not None:
                raise ProviderStartError(
                    f"the provider exited with code {self._proc.returncode} before listening; "
                    f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.02)
        raise ProviderStartError(
            f"the provider did not print 'listening on' within {self._start_timeout_s:g}s; "
            f"last lines of {self.log_path}:\n{_tail(self.log_path)}\n"
            "hint: is the machine overloaded, or the ledger on a slow disk?"
        )

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after the grace period; idempotent."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=self._stop_grace_s)
        self._signal_group(signal.SIGKILL)
        self._proc.wait(timeout=10)
        self._proc = None
        self._url = None

    def kill(self) -> None:
        """SIGKILL the provider at once (a provider crash); ``start()`` or ``restart()`` after."""
        if self._proc is not None:
            self._signal_group(signal.SIGKILL)
            self._proc.wait(timeout=10)
            self._proc = None
            self._url = None

    def restart(self) -> None:
        """Stop and start again on the same ledger, on the same port when it is still free."""
        port = self._last_port
        self.stop()
        try:
            self.start(port)
        except ProviderStartError:
            if port == 0:
                raise
            self.start(0)

    def __enter__(self) -> ProviderProcess:
        try:
            self.start()
        except BaseException:
            self._remove_own_dir()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            self._remove_own_dir()

    def _remove_own_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _recorded_temp_dir(run_id: str) -> Path:
    """A temp dir the run's creation record lists (lazily imported: harness.env imports us)."""
    from harness.env.created import temp_dir

    return temp_dir(run_id, f"durabench-{run_id}-provider-")
