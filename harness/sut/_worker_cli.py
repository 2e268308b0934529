"""The command line every built-in worker shares: ``python -m harness.sut.<runtime>.worker``.

A worker's life, as far as this module is concerned:

1. :func:`worker_parser` builds its argument parser: ``--workload``, ``--executor-id``, ``--grace``
   and, as the runtime needs them, ``--lease`` / ``--heartbeat``, ``--poll`` and the attempts
   bound (``--max-attempts`` or ``--max-recovery-attempts``); the worker adds its own options;
2. :func:`required_env` reads the addresses the harness passes in the environment, never in argv
   (where any local user could read a password): :data:`ENV_POSTGRES`, :data:`ENV_PROVIDER`, ...;
   :func:`db_timeout_s` the optional per-query bound :data:`ENV_DB_TIMEOUT`;
3. :func:`log_to_stderr` sets up logging;
4. the worker prints ``worker <executor-id> ready`` and serves until SIGTERM;
5. :func:`exit_now` leaves without joining the threads of abandoned calls.

The adapters' ``worker_command`` builds the argv these parsers read.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Literal, NoReturn

from harness.workloads import WORKLOADS

ENV_POSTGRES = "DURABENCH_WORKER_POSTGRES_URL"
"""The trial's database (DSN) of a worker whose runtime keeps its state in Postgres."""
ENV_PROVIDER = "DURABENCH_WORKER_PROVIDER_URL"
"""The mock LLM provider's base URL, through the trial's proxy."""
ENV_DB_TIMEOUT = "DURABENCH_DB_TIMEOUT_S"
"""Optional: bounds every query of the worker (default 30 s); faults that hang a query set it so
that a trial does not wait half a minute."""

AttemptsOption = Literal["--max-attempts", "--max-recovery-attempts"]
"""How a worker bounds its retries of a workflow: executions in all (the adapters' own lease
loops, default 11) or recoveries after the first (the runtime's own setting, default 10)."""


def worker_parser(module: str, description: str | None, *, default_executor_id: str,
                  lease: bool = True, poll: bool = True, attempts: AttemptsOption,
                  poll_help: str | None = None, grace_help: str | None = None,
                  raw_description: bool = True) -> argparse.ArgumentParser:  # fmt: skip
    """The parser of ``python -m <module>`` with the options the worker shares with the others.

    ``lease`` adds ``--lease`` and ``--heartbeat`` (seconds, defaults 2.0 and 0.5), ``poll``
    adds ``--poll`` (0.1); ``--grace`` (2.0) is always there. ``raw_description`` keeps the
    module docstring's line breaks in ``--help``.
    """
    p = argparse.ArgumentParser(
        prog=f"python -m {module}", description=description,
        formatter_class=(argparse.RawDescriptionHelpFormatter if raw_description
                         else argparse.HelpFormatter),
    )  # fmt: skip
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--executor-id", default=default_executor_id)
    if lease:
        p.add_argument("--lease", type=float, default=2.0)
        p.add_argument("--heartbeat", type=float, default=0.5)
    if poll:
        p.add_argument("--poll", type=float, default=0.1, help=poll_help)
    p.add_argument("--grace", type=float, default=2.0, help=grace_help)
    if attempts == "--max-attempts":
        p.add_argument("--max-attempts", type=int, default=11)
    else:
        p.add_argument("--max-recovery-attempts", type=int, default=10)
    return p


def required_env(parser: argparse.ArgumentParser, first: str, second: str,
                 what: str = "the trial's database and provider") -> tuple[str, str]:  # fmt: skip
    """The values of two environment variables; a usage error (exit 2) naming both when either
    is unset or empty."""
    a, b = os.environ.get(first, ""), os.environ.get(second, "")
    if not a or not b:
        parser.error(f"set {first} and {second} ({what})")
    return a, b


def db_timeout_s() -> float:
    """The per-query bound of :data:`ENV_DB_TIMEOUT`, 30 s when unset."""
    return float(os.environ.get(ENV_DB_TIMEOUT, "30"))


def log_to_stderr(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")


def exit_now() -> NoReturn:
    """Flush and leave at once (status 0): threads still running (a step's abandoned call, a
    workflow the runtime keeps for the next worker) hold nothing that interpreter exit should
    wait for."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
