"""provider_errors: 429 (with Retry-After), 500 and 503 bursts, and a hung call, mid-loop.

Steps retry with backoff and the workflow completes with one outcome. What the failed calls billed
is counted: 429 and 503 bill nothing, 500 bills the prompt, an abandoned hung call bills nothing —
so the redundant tokens match exactly what the provider billed for failures.
"""

from __future__ import annotations

import pytest

from harness import ProviderErrorsFault, TrialRunner, Trigger, research_trial

pytestmark = [pytest.mark.xdist_group("provider_errors"), pytest.mark.durabench_case_s(5)]

BURSTS = {
    "429x3": ProviderErrorsFault(status=429, count=3),
    "503x2": ProviderErrorsFault(status=503, count=2),
    "500x1": ProviderErrorsFault(status=500, count=1),
    "hang": ProviderErrorsFault(status=0),
}


@pytest.mark.parametrize("burst", list(BURSTS))
def test_provider_errors_are_retried(trials: TrialRunner, sut: str, burst: str,
                                     seed: int) -> None:  # fmt: skip
    fault = BURSTS[burst]
    # Armed when call 2 is delivered: the failures hit call 3 (logical step 2) and its retries.
    armed = Trigger("delivered", call=2)
    spec = research_trial("provider_errors", sut, fault, burst, trigger=armed, crash_step=2,
                          seed=seed)  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    ledger = result.history.trial_ledger()
    failed = [e for e in ledger if e.status != 200]
    expected = fault.count if fault.status else 1
    assert len(failed) == expected, f"expected {expected} failed calls, ledger has {failed}"
    billed_for_failures = sum(e.tokens for e in failed)
    assert result.figures.redundant_tokens == billed_for_failures
    if fault.status == 500:
        assert billed_for_failures > 0 and all(e.completion_tokens == 0 for e in failed)
    else:
        assert billed_for_failures == 0
