"""``provider_errors``: the provider answers the workflow's next ``count`` calls with ``status``
(429 with Retry-After, 500, 503), or hangs one call (``status=0``) until healed.

Steps must retry with backoff; what failed calls billed is counted (429/503 bill nothing; 500
bills the prompt). Heal removes the rule and releases a hung call.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.faults._base import FaultTarget


@dataclass(frozen=True)
class ProviderErrorsFault:
    status: int = 429
    count: int = 3
    retry_after_s: float = 0.2
    name: str = "provider_errors"
    kills_worker: bool = False

    def inject(self, target: FaultTarget) -> None:
        provider = target.env.provider_client()
        if self.status == 0:
            provider.add_rule("hang", workflow_id=target.workflow_id, count=1)
            return
        provider.add_rule(
            "fail",
            workflow_id=target.workflow_id,
            status=self.status,
            count=self.count,
            retry_after_s=self.retry_after_s if self.status == 429 else None,
        )

    def heal(self, target: FaultTarget) -> None:
        """Failing rules expire by count; a hang is released here so the step can finish."""
        if self.status == 0:
            target.env.provider_client().release()
