"""The harness's side of :mod:`harness.sut.dbos.release_client`: a pinned DBOS release's own
``DBOSClient``, in a helper process on that release's interpreter.

Lifecycle of :class:`ReleaseClientProcess`:
1. spawned when the trial's client is made (its ``import dbos`` overlaps the workers' start-up),
   its stderr in a temporary file;
2. the first request waits for its ``ready`` line;
3. each request is one JSON line on its stdin, answered by one line on its stdout (requests are
   serialized: the supervisor's hand-over and the driver's start may come from two threads);
4. :meth:`close` closes its stdin (the helper destroys its client and exits), killing it if it
   does not exit within a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

from harness.sut._releases import InstalledRelease, release_worker_env
from harness.sut._worker_cli import ENV_POSTGRES

REQUEST_TIMEOUT_S = 60.0
"""How long a start or a hand-over may take (the helper's client rides out a db_crash)."""


class ReleaseClientError(RuntimeError):
    """The helper failed: it exited, timed out, or its call raised (the helper's text)."""


class ReleaseClientProcess:
    """A pinned release's ``DBOSClient`` in a helper process (module docstring)."""

    def __init__(self, release: InstalledRelease, postgres_url: str) -> None:
        self._release = release
        self._lock = threading.Lock()
        self._ready = False
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close()
        env = dict(os.environ, **release_worker_env(release), **{ENV_POSTGRES: postgres_url})
        self._proc = subprocess.Popen(
            [release.python, "-m", "harness.sut.dbos.release_client"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env,
            text=True, bufsize=1)  # fmt: skip

    def enqueue(self, workload: str, workflow_id: str, params: Mapping[str, Any]) -> None:
        self._call({"op": "enqueue", "workload": workload, "workflow_id": workflow_id,
                    "params": dict(params)})  # fmt: skip

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):  # it exited already
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()

    def _call(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            deadline = time.monotonic() + REQUEST_TIMEOUT_S
            if not self._ready:
                self._reply(deadline)
                self._ready = True
            stdin = self._proc.stdin
            assert stdin is not None
            try:
                stdin.write(json.dumps(request) + "\n")
                stdin.flush()
            except OSError as exc:
                raise self._failed(f"cannot write to it ({exc})") from exc
            answer = self._reply(deadline)
        if not answer.get("ok"):
            raise ReleaseClientError(f"dbos {self._version}'s DBOSClient failed "
                                     f"({request.get('op')}): {answer.get('error')}")  # fmt: skip
        return answer

    def _reply(self, deadline: float) -> dict[str, Any]:
        """The helper's next JSON line (other output skipped)."""
        stdout = self._proc.stdout
        assert stdout is not None
        while True:
            line = _readline(stdout, deadline - time.monotonic())
            if line is None:
                raise self._failed(f"no answer within {REQUEST_TIMEOUT_S:.0f} s")
            if not line:
                raise self._failed(f"it exited with code {self._proc.wait()}")
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if isinstance(answer, dict):
                return answer

    @property
    def _version(self) -> str:
        return self._release.version_of("dbos")

    def _failed(self, what: str) -> ReleaseClientError:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return ReleaseClientError(
            f"the client helper of dbos {self._version} ({self._release.python} -m "
            f"harness.sut.dbos.release_client) failed: {what}; its last output: "
            f"{lines[-1] if lines else '(none)'}")


def _readline(stream: IO[str], timeout_s: float) -> str | None:
    """One line of ``stream`` ("" at its end), or None after ``timeout_s``."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(max(timeout_s, 0.0)):
            return None
    return stream.readline()
