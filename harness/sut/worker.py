"""Worker entrypoint: ``python -m harness.sut.worker --sut reference --workload research_agent
--postgres URL --provider URL``.

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

from harness.sut import SUT_NAMES
from harness.workloads import WORKLOADS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.sut.worker", description=__doc__)
    p.add_argument("--sut", required=True, choices=SUT_NAMES)
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--postgres", required=True, help="Postgres URL of the SUT's store")
    p.add_argument("--provider", required=True, help="base URL of the mock LLM provider")
    p.add_argument("--executor-id", default=f"{socket.gethostname()}-{os.getpid()}")
    p.add_argument("--lease", type=float, default=2.0)
    p.add_argument("--heartbeat", type=float, default=0.5)
    p.add_argument("--poll", type=float, default=0.1)
    p.add_argument("--grace", type=float, default=2.0)
    p.add_argument("--max-recovery-attempts", type=int, default=10)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    from harness.sut.reference import WORKER, app
    from reference_runtime import Runtime

    runtime = Runtime(
        app,
        args.postgres,
        executor_id=args.executor_id,
        checkpointing=args.sut == "reference",
        lease_s=args.lease,
        heartbeat_s=args.heartbeat,
        poll_s=args.poll,
        max_recovery_attempts=args.max_recovery_attempts,
    )
    WORKER.provider_url = args.provider
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
