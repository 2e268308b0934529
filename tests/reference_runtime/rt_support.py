"""Helpers for the reference runtime tests: in-process workers, worker subprocesses, SQL.

Importing this module puts the repository root on ``sys.path`` so that ``harness`` and
``tests.reference_runtime.apps`` (the module worker subprocesses import) resolve.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reference_runtime import Runtime  # noqa: E402

APP_PATH = "tests.reference_runtime.apps:app"
RuntimeFactory = Callable[..., Runtime]
"""The ``make_runtime`` fixture: ``make(executor_id="test-worker", **Runtime options)``."""


@contextlib.contextmanager
def running_worker(rt: Runtime) -> Iterator[Runtime]:
    """``rt.run_worker`` on a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=rt.run_worker, args=(stop,), daemon=True)
    thread.start()
    try:
        yield rt
    finally:
        stop.set()
        thread.join(timeout=5)
        rt.shutdown(0.0)


def sql(pg_url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class WorkerProcess:
    """``python -m reference_runtime worker`` in its own process group, as a context manager."""

    def __init__(
        self, pg_url: str, schema: str, executor_id: str, log_dir: Path, *extra: str
    ) -> None:
        self.executor_id = executor_id
        self.stderr_path = log_dir / f"worker-{executor_id}-{uuid.uuid4().hex[:6]}.err"
        self.argv = [
            sys.executable,
            "-m",
            "reference_runtime",
            "worker",
            "--dsn",
            pg_url,
            "--app",
            APP_PATH,
            "--executor-id",
            executor_id,
            "--schema",
            schema,
            *extra,
        ]
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> WorkerProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        line = _readline(self.proc, timeout=20)
        if line.strip() != f"worker {self.executor_id} ready":
            self.kill()
            raise AssertionError(f"worker did not get ready: {line!r}\n{self.stderr()}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(
        target=lambda: result.append(proc.stdout.readline() if proc.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(timeout)
    return result[0] if result else "(no line within timeout)"


def read_log(path: Path) -> list[list[str]]:
    log = path / "log"
    if not log.exists():
        return []
    return [line.split() for line in log.read_text().splitlines() if line.strip()]
