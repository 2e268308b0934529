"""Every process the harness starts dies with the run, however the run ends.

Three pieces, used by the environments (see :mod:`harness.env.sweep` for how leftovers are found):

- a **run record** ``<tmp>/durabench-runs/<run id>.json`` (owner pid and its start time), written
  when a run starts and removed when it ends: a run is *live* while its owner process is;
- a **lifeline**: ``python -m harness.env.sweep watch RUN_ID``, a watchdog in its own session
  whose stdin is a pipe only the owner holds. However the owner ends (return, exception, SIGKILL,
  OOM kill) the kernel closes the pipe; unless the owner wrote ``done`` after its own teardown,
  the watchdog sweeps the run at once: its processes (Postgres runs as another user and workers
  ignore our fate, so only an outside process can do this), cgroups and temp files;
- **signals as Ctrl-C**: while a run is up, SIGTERM and SIGHUP raise :class:`KeyboardInterrupt`
  in the main thread, so ``kill`` and a closed terminal tear down exactly as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

ENV_RUN_ID = "DURABENCH_RUN_ID"
INTERRUPT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_record_path(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / "durabench-runs" / f"{run_id}.json"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a living ``pid`` (clock ticks since boot; tells a reused pid
    apart); None when it is gone or a zombie (dead, not yet reaped by its parent)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _record_live(path: Path) -> bool:
    try:
        record = json.loads(path.read_text())
        pid, start = int(record["pid"]), str(record["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return process_start_time(pid) == start


def live_run_ids() -> set[str]:
    """Ids of the runs whose owner process is still alive."""
    folder = run_record_path("x").parent
    if not folder.is_dir():
        return set()
    return {path.stem for path in folder.glob("*.json") if _record_live(path)}


class Lifeline:
    """Run record + watchdog for one run (a context manager; see the module docstring)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.record = run_record_path(run_id)
        self._watchdog: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Lifeline:
        self.record.parent.mkdir(mode=0o700, exist_ok=True)
        pid = os.getpid()
        self.record.write_text(json.dumps({"run_id": self.run_id, "pid": pid,
                                           "start": process_start_time(pid)}))  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != ENV_RUN_ID}
        self._watchdog = subprocess.Popen(
            [sys.executable, "-m", "harness.env.sweep", "watch", self.run_id],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True, env=env,
        )
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """After a clean teardown, tell the watchdog it is done; after a failed one (``exc_type``
        set), let it sweep what the teardown left. Either way the run is forgotten."""
        self.record.unlink(missing_ok=True)
        if exc_type is None:
            from harness.env.created import forget_if_clean  # lazily: it imports this module

            forget_if_clean(self.run_id)
        watchdog = self._watchdog
        if watchdog is None or watchdog.stdin is None:
            return
        with contextlib.suppress(OSError):
            if exc_type is None:
                watchdog.stdin.write(b"done\n")
            watchdog.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            watchdog.wait(timeout=30)

    @property
    def watchdog_pid(self) -> int | None:
        return None if self._watchdog is None else self._watchdog.pid

    @property
    def pipe(self) -> IO[bytes] | None:
        return None if self._watchdog is None else self._watchdog.stdin


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


def install_interrupt_signals() -> None:
    """SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` from now on (main thread only; a
    handler someone else installed is left alone). For whole-process owners such as pytest."""
    if threading.current_thread() is threading.main_thread():
        for sig in INTERRUPT_SIGNALS:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _raise_interrupt)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` while inside (main thread only; a
    handler someone else installed is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    for sig in INTERRUPT_SIGNALS:
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            previous[sig] = signal.signal(sig, _raise_interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
