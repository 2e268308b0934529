"""evict: SIGTERM, a grace period, then SIGKILL — a pod eviction or spot preemption notice.

The reference runtime uses the grace period: it stops claiming, lets the in-flight step finish
and record, releases its lease and exits, so the standby starts at once instead of waiting out the
lease; with checkpointing, a step that finished in the grace period is not paid for twice. A
killed worker is taken over as fast (its Postgres session ends with it, and with it its executor
lock: docs/reference_runtime.md), so both resume well before the lease would have expired; what
the grace period buys is the in-flight step, not time.
"""

from __future__ import annotations

import pytest

from harness.faults import EvictFault, KillFault
from harness.pytest_plugin import TrialRunner
from harness.scenario import research_trial, worker_deaths
from harness.sut import SUT_NAMES, get_sut

CRASHES = ("mid_step_late", "between_steps")


@pytest.mark.parametrize("crash", CRASHES)
@pytest.mark.parametrize("sut", SUT_NAMES)
def test_evict_recovers(trials: TrialRunner, sut: str, crash: str, seed: int) -> None:
    result = trials.run(research_trial("evict", sut, EvictFault(), crash, recovery="standby",
                                       seed=seed))  # fmt: skip
    trials.require_valid(result)
    exits = worker_deaths(result.history)
    assert exits and exits[0].exit_code == 0, f"the evicted worker should exit cleanly: {exits}"
    if get_sut(sut).checkpointing:
        assert result.figures.redundant_tokens == 0, (
            "the in-flight step finished within the grace period, so nothing is paid twice"
        )


@pytest.mark.parametrize("crash", CRASHES)
def test_evict_and_kill_resume_before_the_lease_expires(
    trials: TrialRunner, crash: str, seed: int
) -> None:
    evicted = trials.run(research_trial("evict", "reference", EvictFault(), crash,
                                        recovery="standby", seed=seed))  # fmt: skip
    killed = trials.run(research_trial("kill", "reference", KillFault(), crash,
                                       recovery="standby", seed=seed))  # fmt: skip
    e, k = evicted.figures.time_to_resume_s, killed.figures.time_to_resume_s
    assert e is not None and k is not None
    lease = evicted.spec.options.lease_s
    assert e < lease and k < lease, (
        f"an evicted worker releases its lease and a killed one's session lock goes with it: "
        f"both should be taken over before the {lease}s lease expires: "
        f"evict {e:.2f}s, kill {k:.2f}s"
    )
