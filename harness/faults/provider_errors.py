"""``provider_errors``: the provider answers the workflow's next ``count`` calls with ``status``
(429 with Retry-After, 500, 503), or — with ``status=0`` — hangs the next call for ``hang_s``.

Steps must retry with backoff; what the failed calls billed is counted (429/503 bill nothing, 500
bills the prompt). For a hang the workers' per-request LLM timeout is set below ``hang_s``, so the
client gives up and the step's retry takes over; heal releases the hung call, whose client is
gone by then, so the provider abandons it unbilled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.faults._base import FaultTarget, WorkerSetup


@dataclass(frozen=True)
class ProviderErrorsFault:
    status: int = 429
    count: int = 3
    retry_after_s: float = 0.2
    hang_s: float = 3.0
    llm_timeout_s: float = 1.5
    name: str = "provider_errors"
    kills_worker: bool = False

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        if self.status == 0:
            return WorkerSetup(env={"DURABENCH_LLM_TIMEOUT_S": str(self.llm_timeout_s)})
        return WorkerSetup()

    def inject(self, target: FaultTarget) -> None:
        provider = target.env.provider_client()
        if self.status == 0:
            provider.add_rule("hang", workflow_id=target.workflow_id, count=1)
            time.sleep(self.hang_s)
            return
        provider.add_rule(
            "fail",
            workflow_id=target.workflow_id,
            status=self.status,
            count=self.count,
            retry_after_s=self.retry_after_s if self.status == 429 else None,
        )

    def heal(self, target: FaultTarget) -> None:
        """Failing rules run out by count; a hung call is released here."""
        if self.status == 0:
            target.env.provider_client().release()
