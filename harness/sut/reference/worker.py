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
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from harness.sut.reference import ENV_POSTGRES, ENV_PROVIDER, WORKER, announce_epochs, app
from harness.workloads import WORKLOADS

ENV_DB_TIMEOUT = "DURABENCH_DB_TIMEOUT_S"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.sut.reference.worker", description=__doc__)
    p.add_argument("--checkpointing", choices=("on", "off"), default="on")
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--executor-id", default=f"{socket.gethostname()}-{os.getpid()}")
    p.add_argument("--lease", type=float, default=2.0)
    p.add_argument("--heartbeat", type=float, default=0.5)
    p.add_argument("--poll", type=float, default=0.1)
    p.add_argument("--grace", type=float, default=2.0)
    p.add_argument("--max-recovery-attempts", type=int, default=10)
    p.add_argument("--llm", choices=("chat", "responses"), default="chat",
                   help="responses: resumable LLM steps through background responses")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    postgres = os.environ.get(ENV_POSTGRES, "")
    provider = os.environ.get(ENV_PROVIDER, "")
    if not postgres or not provider:
        parser.error(f"set {ENV_POSTGRES} and {ENV_PROVIDER} (the trial's database and provider)")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
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
        op_timeout_s=float(os.environ.get(ENV_DB_TIMEOUT, "30")),
        announce_epochs=announce_epochs,
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
