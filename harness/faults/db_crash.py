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
    owner_back_after_s: float = 0.0
    """The victim's Postgres link stays down this much longer than Postgres: every worker loses
    its sessions at once, and the owner is the last one back -- the order in which its peers,
    reconnected, find its session missing while it lives. Needs the others on links of their own
    (``Recovery(own_links=True)``) and a SUT whose store is Postgres."""
    name: str = "db_crash"
    kills_worker: bool = False

    def inject(self, target: FaultTarget) -> None:
        if self.owner_back_after_s:
            target.peer_proxy("postgres")  # a clear error when the others share the victim's link
            target.env.toxiproxy().set_enabled(target.proxy("postgres"), False)
        try:
            target.crash_store()
        except CapabilityUnavailable as exc:
            raise FaultUnavailable(str(exc)) from exc
        time.sleep(self.down_s)

    def heal(self, target: FaultTarget) -> None:
        try:
            target.restart_store()
        except CapabilityUnavailable:
            pass  # inject could not crash it either
        finally:
            if self.owner_back_after_s:
                time.sleep(self.owner_back_after_s)
                target.env.toxiproxy().set_enabled(target.proxy("postgres"), True)
