"""Worker entrypoint of the reference SUTs: ``python -m harness.sut.reference.worker
--checkpointing on --workload research_agent`` with the DSN and provider URL in
``DURABENCH_WORKER_POSTGRES_URL`` and ``DURABENCH_WORKER_PROVIDER_URL`` (never in argv, where any
local user could read a password).

``DURABENCH_DB_TIMEOUT_S`` (optional) bounds every query (the runtime's ``op_timeout_s``; default
30 s): faults that hang a query set it so that a trial does not wait half a minute.

Prints ``worker <executor-id> ready`` once it is claiming workflows. SIGTERM stops claiming,
lets the running step finish within ``--grace`` seconds, releases leases and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from types import FrameType

from harness.sut._worker_cli import db_timeout_s, log_to_stderr, required_env, worker_parser
from harness.sut.reference import ENV_POSTGRES, ENV_PROVIDER, WORKER, announce_epochs, app


def _parser() -> argparse.ArgumentParser:
    p = worker_parser("harness.sut.reference.worker", __doc__, raw_description=False,
                      default_executor_id=f"{socket.gethostname()}-{os.getpid()}",
                      attempts="--max-recovery-attempts")  # fmt: skip
    p.add_argument("--checkpointing", choices=("on", "off"), default="on")
    p.add_argument("--llm", choices=("chat", "responses"), default="chat",
                   help="responses: resumable LLM steps through background responses")
    p.add_argument("--db-retry", type=float, default=60.0,
                   help="the runtime's db_retry_s: seconds a store operation retries a lost "
                        "connection before the execution gives up")
    p.add_argument("--max-concurrency", type=int, default=16,
                   help="the runtime's max_concurrency: workflows this worker runs at once")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    postgres, provider = required_env(parser, ENV_POSTGRES, ENV_PROVIDER)
    log_to_stderr()
    from reference_runtime import Runtime

    runtime = Runtime(
        app,
        postgres,
        executor_id=args.executor_id,
        checkpointing=args.checkpointing == "on",
        lease_s=args.lease,
        heartbeat_s=args.heartbeat,
        poll_s=args.poll,
        max_recovery_attempts=args.max_recovery_attempts,
        op_timeout_s=db_timeout_s(),
        announce_epochs=announce_epochs,
        db_retry_s=args.db_retry,
        max_concurrency=args.max_concurrency,
    )
    WORKER.provider_url = provider
    WORKER.resumable_llm = args.llm == "responses"
    WORKER.runtime = runtime
    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    print(f"worker {args.executor_id} ready", flush=True)
    try:
        runtime.run_worker(stop=stop)
    finally:
        runtime.shutdown(grace_s=args.grace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
