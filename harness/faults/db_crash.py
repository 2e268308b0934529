"""``db_crash``: Postgres immediate shutdown (no checkpoint, like a power cut), restart after
``down_s`` seconds.

Workers must ride it out (reconnect with backoff) or be replaced; nothing recorded may be lost and
no workflow may be left pending. Heal makes sure Postgres is running again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.env.postgres import EmbeddedPostgres
from harness.faults._base import FaultTarget, FaultUnavailable


def _embedded(target: FaultTarget) -> EmbeddedPostgres:
    postgres = target.env.postgres
    if not isinstance(postgres, EmbeddedPostgres):
        raise FaultUnavailable(
            "db_crash needs the embedded Postgres: it cannot crash a server named by "
            "DURABENCH_POSTGRES_URL"
        )
    return postgres


@dataclass(frozen=True)
class DbCrashFault:
    down_s: float = 2.0
    name: str = "db_crash"
    kills_worker: bool = False

    def inject(self, target: FaultTarget) -> None:
        postgres = _embedded(target)
        postgres.crash()
        time.sleep(self.down_s)

    def heal(self, target: FaultTarget) -> None:
        postgres = _embedded(target)
        if not postgres.running:
            postgres.start()
