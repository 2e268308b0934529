"""The worker command line: ``python -m reference_runtime worker --dsn DSN --app module:attr``.

Lifecycle: import the App (bad path: message naming it, exit 2) -> connect and migrate
(unreachable: message, exit 1) -> print ``worker <executor> ready`` (flushed) -> run the worker
loop until SIGTERM/SIGINT -> ``shutdown(--grace)`` -> exit 0. Logs go to stderr at INFO.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from reference_runtime._app import App
from reference_runtime._errors import ReferenceRuntimeError
from reference_runtime._runtime import Runtime
from reference_runtime._schema import DEFAULT_SCHEMA


class AppPathError(ValueError):
    """Raised when ``--app module:attr`` does not name an importable App."""


def load_app(path: str) -> App:
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise AppPathError(f"--app {path!r} must look like 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppPathError(
            f"--app {path!r}: cannot import module {module_name!r} ({exc}); is it on "
            "PYTHONPATH (the current directory is)?"
        ) from exc
    except Exception as exc:  # the module's own code failed: say so in one line
        raise AppPathError(
            f"--app {path!r}: importing module {module_name!r} raised "
            f"{type(exc).__name__}: {exc}; fix the module (run `python -c 'import "
            f"{module_name}'` to see the traceback)"
        ) from exc
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise AppPathError(
            f"--app {path!r}: {module_name}.{attr} is {type(app).__name__}, not a "
            "reference_runtime.App"
        )
    return app


class DsnError(ValueError):
    """Raised when ``--dsn`` is not a Postgres URL or conninfo string."""


def _check_dsn(dsn: str) -> None:
    """Parse ``dsn`` now, so a typo is one line (libpq's quoted fragments, which may hold the
    password, are left out)."""
    import re

    import psycopg

    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        reason = re.sub(r'"[^"]*"', '"..."', " ".join(str(exc).split()))
        raise DsnError(
            f"--dsn is not a Postgres URL or conninfo string ({reason}); expected e.g. "
            "postgresql://USER@HOST:PORT/DBNAME"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reference_runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run a worker until SIGTERM")
    worker.add_argument("--dsn", required=True, help="Postgres URL")
    worker.add_argument("--app", required=True, help="module:attribute naming an App")
    worker.add_argument("--executor-id", default=f"{socket.gethostname()}-{os.getpid()}")
    worker.add_argument("--no-checkpointing", action="store_true")
    worker.add_argument("--lease", type=float, default=30.0, help="lease seconds")
    worker.add_argument("--heartbeat", type=float, default=None, help="default: lease / 6")
    worker.add_argument("--poll", type=float, default=0.5, help="poll interval seconds")
    worker.add_argument("--max-recovery-attempts", type=int, default=10)
    worker.add_argument("--max-concurrency", type=int, default=16)
    worker.add_argument("--grace", type=float, default=5.0, help="SIGTERM grace seconds")
    worker.add_argument("--db-retry", type=float, default=60.0,
                        help="seconds a store operation retries a lost connection before the "
                             "execution gives up (the worker claims the workflow again)")
    worker.add_argument("--schema", default=DEFAULT_SCHEMA)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s [" + args.executor_id + "] %(message)s",
    )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        app = load_app(args.app)
        _check_dsn(args.dsn)
    except (AppPathError, DsnError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        rt = Runtime(
            app,
            args.dsn,
            args.executor_id,
            checkpointing=not args.no_checkpointing,
            lease_s=args.lease,
            heartbeat_s=args.heartbeat if args.heartbeat is not None else args.lease / 6,
            poll_s=args.poll,
            max_recovery_attempts=args.max_recovery_attempts,
            max_concurrency=args.max_concurrency,
            schema=args.schema,
            db_retry_s=args.db_retry,
        )
    except (ReferenceRuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return _serve(rt, args.grace)


def _serve(rt: Runtime, grace_s: float) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        rt._worker.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"worker {rt.executor_id} ready", flush=True)
    try:
        rt.run_worker(stop)
    finally:
        logging.getLogger("reference_runtime").info("shutting down (grace %.1fs)", grace_s)
        rt.shutdown(grace_s)
    return 0
