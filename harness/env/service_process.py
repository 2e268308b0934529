"""A SUT's service program as a process on this host (the local environment's ``start_service``).

Contract of :class:`HostServiceProcess` (a :class:`~harness.sut.ServiceProcess`):
- ``{host}``/``{port}`` in the command's argv become the bind host (127.0.0.1) and a free port,
  chosen once: :meth:`start` after :meth:`kill` listens on the same address;
- its own process group and session (a ``kill`` reaches its children), stdin closed, stdout and
  stderr appended to ``<work_dir>/<name>.log`` (its ``tail``), ``DURABENCH_RUN_ID`` from the
  command's env labels it for ``durabench sweep``;
- ``kill`` SIGKILLs the group and reaps it; ``remove`` is ``kill`` (idempotent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from harness.net.ports import listen_port
from harness.sut._protocol import ServiceCommand


def free_port(host: str) -> int:
    """A port outside the ephemeral range (see :mod:`harness.net.ports`)."""
    return listen_port(host)


def expand(argv: tuple[str, ...], host: str, port: int) -> list[str]:
    """``argv`` with ``{host}`` and ``{port}`` replaced (nothing else is a placeholder)."""
    return [a.replace("{host}", host).replace("{port}", str(port)) for a in argv]


class HostServiceProcess:
    """A service program in its own process group on this host."""

    def __init__(self, command: ServiceCommand, host: str, port: int) -> None:
        self.command = command
        self.host, self.port = host, port
        self.log_path = Path(command.work_dir) / f"{command.name}.log"
        self._popen: subprocess.Popen[bytes] | None = None

    @classmethod
    def launch(cls, command: ServiceCommand, host: str = "127.0.0.1") -> HostServiceProcess:
        process = cls(command, host, free_port(host))
        process.start()
        return process

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def argv(self) -> list[str]:
        return expand(self.command.argv, self.host, self.port)

    @property
    def pid(self) -> int:
        return self._popen.pid if self._popen is not None and self.poll() is None else 0

    def poll(self) -> int | None:
        return self._popen.poll() if self._popen is not None else -1

    def start(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            return
        env = {**os.environ, **self.command.env}
        try:
            with open(self.log_path, "ab") as log:
                self._popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True,
                                               env=env)  # fmt: skip
        except OSError as exc:
            raise RuntimeError(f"could not run the {self.command.name} service "
                               f"({' '.join(self.argv)}): {exc}") from exc  # fmt: skip

    def kill(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait(10.0)

    def remove(self) -> None:
        self.kill()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


__all__ = ["HostServiceProcess", "expand", "free_port"]
