"""``kill``: SIGKILL the worker's whole process group, as a node failure or ``kill -9`` would.

Nothing is flushed, no lease is released: recovery is up to the runtime (a restarted worker with
the same executor id, or a standby taking over once the lease expires). Heal has nothing to undo.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from harness.faults._base import FaultTarget


@dataclass(frozen=True)
class KillFault:
    name: str = "kill"
    kills_worker: bool = True

    def inject(self, target: FaultTarget) -> None:
        """Returns once the worker's process is gone (reaped), so the kill is a fact."""
        target.worker.signal(signal.SIGKILL)
        target.worker.wait(10.0)

    def heal(self, target: FaultTarget) -> None:
        return None
