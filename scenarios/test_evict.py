"""evict: SIGTERM, a grace period, then SIGKILL — a pod eviction or spot preemption notice.

The reference runtime uses the grace period: it stops claiming, lets the in-flight step finish
and record, releases its lease and exits, so the standby starts at once instead of waiting out the
lease; with checkpointing, a step that finished in the grace period is not paid for twice. A
killed worker is taken over as fast (its Postgres session ends with it, and with it its executor
lock: docs/reference_runtime.md), so both resume well before the lease would have expired: what
the grace period buys is the in-flight step, not time, and that is what the comparison asserts.
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


def test_evict_costs_less_than_kill(trials: TrialRunner, seed: int) -> None:
    """Both are taken over before the lease would expire, so time no longer tells them apart
    (timing belongs to ``benchmarks/takeover.py``); the grace period's gain is the in-flight step,
    finished and recorded instead of paid twice."""
    trials.require_suts("reference")  # shown on the runtime whose lease release it documents
    crash = "mid_step_late"
    evicted = trials.run(research_trial("evict", "reference", EvictFault(), crash,
                                        recovery="standby", seed=seed))  # fmt: skip
    killed = trials.run(research_trial("kill", "reference", KillFault(), crash,
                                       recovery="standby", seed=seed))  # fmt: skip
    trials.require_valid(evicted)
    trials.require_valid(killed)
    e, k = evicted.figures.redundant_tokens, killed.figures.redundant_tokens
    assert e == 0 and k is not None and k > 0, (
        f"an evicted worker finishes its in-flight step within the grace period; a killed one's "
        f"is paid again by the standby: evict wasted {e} tokens, kill {k}"
    )
