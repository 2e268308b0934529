"""evict: SIGTERM, a grace period, then SIGKILL — a pod eviction or spot preemption notice.

The reference runtime uses the grace period: it stops claiming, lets the in-flight step finish
and record, releases its lease and exits, so the standby starts at once instead of waiting out the
lease. The test measures time_to_resume against a kill at the same point and asserts the
direction; with checkpointing, a step that finished in the grace period is not paid for twice.
"""

from __future__ import annotations

import pytest

from harness import EvictFault, KillFault, TrialRunner, get_sut, research_trial, worker_deaths

CRASHES = ("mid_step_late", "between_steps")


@pytest.mark.parametrize("crash", CRASHES)
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
def test_evict_resumes_sooner_than_kill(trials: TrialRunner, crash: str, seed: int) -> None:
    trials.require_suts("reference")  # shown on the runtime whose lease release it documents
    evicted = trials.run(research_trial("evict", "reference", EvictFault(), crash,
                                        recovery="standby", seed=seed))  # fmt: skip
    killed = trials.run(research_trial("kill", "reference", KillFault(), crash,
                                       recovery="standby", seed=seed))  # fmt: skip
    e, k = evicted.figures.time_to_resume_s, killed.figures.time_to_resume_s
    assert e is not None and k is not None
    assert e < k, (
        f"a worker that releases its lease on SIGTERM should be taken over sooner than a killed "
        f"one that holds it until it expires: evict {e:.2f}s vs kill {k:.2f}s"
    )
