"""``evict``: SIGTERM, a grace period, then SIGKILL — a pod eviction or a spot preemption notice.

A runtime that uses the grace period well stops claiming, lets the running step finish, releases
its leases and exits, so the next worker starts at once instead of waiting out a lease.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from harness.faults._base import FaultTarget


@dataclass(frozen=True)
class EvictFault:
    grace_s: float = 3.0
    name: str = "evict"
    kills_worker: bool = True

    def inject(self, target: FaultTarget) -> None:
        """Returns once the worker is gone: exited within the grace period, or SIGKILLed after."""
        target.worker.signal(signal.SIGTERM)
        target.release()  # an in-flight LLM call completes during the grace period
        if target.worker.wait(self.grace_s) is None:
            target.worker.signal(signal.SIGKILL)
            target.worker.wait(10.0)

    def heal(self, target: FaultTarget) -> None:
        return None
