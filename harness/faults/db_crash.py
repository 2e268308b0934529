"""``db_crash``: the SUT's durable store crashes and restarts after ``down_s`` seconds: Postgres
immediate shutdown (no checkpoint, like a power cut or an OOM kill of the postmaster), or the
crash of the SUT's own server that its ``durable_store`` names.

Workers must ride it out (reconnect with backoff) or be replaced; nothing recorded may be lost and
no workflow may be left pending. Heal makes sure the store is running again.
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
            target.crash_store()
        except CapabilityUnavailable as exc:
            raise FaultUnavailable(str(exc)) from exc
        time.sleep(self.down_s)

    def heal(self, target: FaultTarget) -> None:
        try:
            target.restart_store()
        except CapabilityUnavailable:
            return  # inject could not crash it either
