"""``pause``: SIGSTOP the worker's process group for longer than its lease, then SIGCONT.

The zombie-worker case: while it is stopped, another worker takes the workflow over; when it
resumes, its late step and outcome writes must be rejected (fencing epoch).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from harness.faults._base import FaultTarget


@dataclass(frozen=True)
class PauseFault:
    duration_s: float = 4.0
    name: str = "pause"
    kills_worker: bool = False

    def inject(self, target: FaultTarget) -> None:
        """Blocks for ``duration_s`` with the worker stopped."""
        target.worker.signal(signal.SIGSTOP)
        time.sleep(self.duration_s)
        target.worker.signal(signal.SIGCONT)
        target.release()

    def heal(self, target: FaultTarget) -> None:
        """Resume the zombie; a call it had in flight is answered now, so it tries to record."""
        target.worker.signal(signal.SIGCONT)
        target.release()
