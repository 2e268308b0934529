"""``db_crash``: Postgres immediate shutdown (no checkpoint, like a power cut or an OOM kill of the
postmaster), restarted after ``down_s`` seconds.

Workers must ride it out (reconnect with backoff) or be replaced; nothing recorded may be lost and
no workflow may be left pending. Heal makes sure Postgres is running again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.env import CapabilityUnavailable
from harness.faults._base import FaultTarget, FaultUnavailable


@dataclass(frozen=True)
class DbCrashFault:
    down_s: float = 2.0
    name: str = "db_crash"
    kills_worker: bool = False

    def inject(self, target: FaultTarget) -> None:
        try:
            target.env.crash_postgres()
        except CapabilityUnavailable as exc:
            raise FaultUnavailable(str(exc)) from exc
        time.sleep(self.down_s)

    def heal(self, target: FaultTarget) -> None:
        try:
            target.env.start_postgres()
        except CapabilityUnavailable:
            return  # inject could not crash it either
