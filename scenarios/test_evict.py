"""evict: SIGTERM, a grace period, then SIGKILL — a pod eviction or spot preemption notice.

The reference runtime uses the grace period: it stops claiming, lets the in-flight step finish
and record, releases its lease and exits, so the standby starts at once instead of waiting out the
lease. The scenario runs with a 20 s lease, so "at once" and "after the lease" are an order of
magnitude apart on any machine: the standby must resume the workflow within a quarter of the
lease. With checkpointing, the step in flight at SIGTERM is recorded once (by the evicted
worker) and no step is paid for twice.
"""

from __future__ import annotations

import pytest

from harness import (
    EvictFault,
    KillFault,
    TrialRunner,
    WorkerOptions,
    get_sut,
    research_trial,
    worker_deaths,
)

pytestmark = [pytest.mark.xdist_group("evict"), pytest.mark.durabench_case_s(4)]

CRASHES = ("mid_step_late", "between_steps")
LONG_LEASE = WorkerOptions(lease_s=20.0, heartbeat_s=1.0)
EVICT = EvictFault(grace_s=10.0)
"""The pod's grace period: well above the worker's own drain bound (``grace_s`` 2 s), so a worker
that drains in time also has time to exit on a loaded machine before SIGKILL."""


@pytest.mark.parametrize("crash", CRASHES)
def test_evict_hands_over_at_once(trials: TrialRunner, sut: str, crash: str, seed: int) -> None:
    result = trials.run(research_trial("evict", sut, EVICT, crash, recovery="standby",
                                       seed=seed, options=LONG_LEASE))  # fmt: skip
    trials.require_valid(result)
    history, fig = result.history, result.figures
    exits = worker_deaths(history)
    assert exits and exits[0].exit_code == 0, f"the evicted worker should exit cleanly: {exits}"
    root = next(w for w in history.workflows if w.workflow_id in history.workflow_ids)
    if root.executor == exits[0].executor:
        # Nothing was handed over: the evicted worker finished the whole workflow within its
        # grace period (DBOS's shutdown waits for whole workflows; a short loop fits in it).
        assert root.status == "SUCCESS", f"the evicted worker kept the workflow: {root}"
    else:
        assert fig.time_to_resume_s is not None, "the standby took over without a sign of life"
        assert fig.time_to_resume_s < LONG_LEASE.lease_s / 4, (
            f"the standby resumed {fig.time_to_resume_s}s after SIGTERM; a released lease is "
            f"taken over at once, not after the {LONG_LEASE.lease_s:g}s lease")
    if get_sut(sut).checkpointing:
        assert fig.redundant_tokens == 0, (
            "the in-flight step finished within the grace period, so nothing is paid twice"
        )
        golden = history.golden
        assert golden is not None and result.spec.crash_step is not None
        in_flight = [s for s in history.steps
                     if s.kind == "llm" and s.step == result.spec.crash_step]  # fmt: skip
        assert len(in_flight) == 1 and in_flight[0].executor == exits[0].executor, (
            f"the step in flight at SIGTERM is recorded once, by the evicted worker: {in_flight}"
        )


# With the reference family's evict tests (harness/pytest_plugin.py, _xdist_family): it re-uses
# their trial of reference from the worker's cache instead of running it again.
@pytest.mark.xdist_group("evict.reference-nockpt")
def test_evict_costs_less_than_kill(trials: TrialRunner, seed: int) -> None:
    """A killed worker is taken over as fast as an evicted one (its Postgres session ends with
    it: docs/reference_runtime.md), so time does not tell them apart; what the grace period buys
    is the in-flight step, finished and recorded instead of paid twice."""
    trials.require_suts("reference")  # shown on the runtime whose drain it documents
    crash = "mid_step_late"
    evicted = trials.run(research_trial("evict", "reference", EVICT, crash, recovery="standby",
                                        seed=seed, options=LONG_LEASE))  # fmt: skip
    killed = trials.run(research_trial("kill", "reference", KillFault(), crash,
                                       recovery="standby", seed=seed, options=LONG_LEASE))
    trials.require_valid(evicted)
    trials.require_valid(killed)
    e, k = evicted.figures.redundant_tokens, killed.figures.redundant_tokens
    assert e == 0 and k is not None and k > 0, (
        f"an evicted worker finishes its in-flight step within the grace period; a killed one's "
        f"is paid again by the standby: evict wasted {e} tokens, kill {k}"
    )
