"""crash sweep: the long deep-research loop killed at evenly spaced points across its length.

For every SUT (a checkpointing SUT and its checkpointing-off twin are both SUTs), the
``deep_research`` loop (40 LLM calls standing for ~50 real minutes, time-compressed 150x; see
``harness/workloads/deep_research.py``) is killed at ``DURABENCH_SWEEP_POINTS`` points (default 8)
evenly spaced from 10% to 90% of its LLM calls -- 90% is minute 45 of 50. At each point the lead's
LLM call is held at the provider and the worker's process group is SIGKILLed while it waits (a
crash mid-step); a replacement worker (same executor id) recovers. After the SUT's golden run the
points run in parallel, with deadlines scaled from the golden run's measured wall time (how
fast this machine is right now). Each results line carries ``crash_fraction`` (the share of the
loop done), from which ``durabench report`` draws dollars wasted per crash against how far the
loop had got.

Asserts, from the ledger and the golden run (no fixed numbers, no wall-clock comparisons):
- every promised verdict is true;
- with checkpointing: at every point the waste stays within the step in flight -- no (workflow,
  step) is billed beyond the golden run except the lead's step in flight, re-billed at most once
  (its golden cost) -- and the bounded_waste verdict agrees;
- without it: the waste is non-decreasing over the points and strictly greater at 90% than at
  10%, and every lead step completed before the crash was billed again.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time

import pytest
from waste_evidence import calls, excess_problems, in_flight

from harness import (
    DeepResearchParams,
    History,
    KillFault,
    Recovery,
    TrialResult,
    TrialRunner,
    TrialSpec,
    Trigger,
    canonical_params,
    get_sut,
)

# Each SUT's sweep runs on one worker (it reads its golden run's history, which only the
# process that ran it holds), and the SUTs' sweeps spread over the workers: nothing is shared
# across SUTs (the report draws the comparison from the results store).
pytestmark = [pytest.mark.xdist_group("crash_sweep"), pytest.mark.durabench_group_per_sut,
              pytest.mark.durabench_case_s(1000)]

SWEEP_POINTS = int(os.environ.get("DURABENCH_SWEEP_POINTS", "8"))
SWEEP_CALLS = int(os.environ.get("DURABENCH_SWEEP_CALLS", "40"))


def sweep_specs(sut: str, params: DeepResearchParams, seed: int) -> list[TrialSpec]:
    """One kill trial per crash point; timeouts scale with the loop's compressed length."""
    loop_s = params.real_time_estimate_s() / params.time_scale
    specs = []
    for call, fraction in params.crash_calls(SWEEP_POINTS):
        specs.append(TrialSpec(
            scenario="crash_sweep", sut=sut, workload="deep_research",
            params_json=canonical_params(params.to_json()), fault=KillFault(),
            # The first call of the step, not call number ``call``: a runtime's retry of an
            # earlier step (a Temporal attempt timed out on a starved machine) adds a call.
            trigger=Trigger("received", step=call - 1),
            trigger_name=f"at{round(fraction * 100):02d}pct",
            crash_step=call - 1, crash_fraction=fraction, recovery=Recovery("restart"), seed=seed,
            timeout_s=4 * loop_s + 60, terminate_bound_s=3 * loop_s + 30,
        ))
    return specs


def measured_bounds(specs: list[TrialSpec], golden: History, parallel: int) -> list[TrialSpec]:
    """Deadlines from this machine's measured speed, not a fixed guess (docs/architecture.md,
    Determinism): the golden run's wall time, scaled by how many trials share each core, at
    least the loop's nominal bound. A replacement replays at most the whole loop, so a healthy
    SUT terminates within it however loaded the machine is; a stuck one still fails."""
    wall_s = max(0.0, (golden.ended_ns - golden.started_ns) / 1e9)
    sharing = max(1.0, parallel / (os.cpu_count() or 1))
    out = []
    for spec in specs:
        bound = max(spec.terminate_bound_s, 3 * wall_s * sharing + 30)
        timeout_s = max(spec.timeout_s, bound + wall_s * sharing + 30)
        out.append(dataclasses.replace(spec, terminate_bound_s=bound, timeout_s=timeout_s))
    return out


def golden_history(trials: TrialRunner, spec: TrialSpec) -> History:
    history = trials.golden.history(spec)
    assert history is not None, f"no golden run recorded for {spec.trial_id}"
    return history


def _check_checkpointed(result: TrialResult, golden: History) -> None:
    spec = result.spec
    assert ("lead", spec.crash_step) in in_flight(result.history), (
        f"{spec.trial_id}: the kill did not catch lead step {spec.crash_step} in flight "
        f"(in flight: {sorted(in_flight(result.history))})")
    if "bounded_waste" in result.judgement.promised:  # a scenario judges promises only
        problems = excess_problems(result.history, golden)
        assert not problems, f"{spec.trial_id}: waste beyond the step in flight: {problems}"
        assert result.judgement.verdicts["bounded_waste"].valid == "true"


def _check_replayed(result: TrialResult, golden: History) -> None:
    spec = result.spec
    assert spec.crash_step is not None
    again = calls(result.history)
    before = calls(golden)
    missing = [s for s in range(spec.crash_step)
               if again[("lead", s)] < before[("lead", s)] + 1]
    assert not missing, (f"{spec.trial_id}: without checkpointing every lead step before the "
                         f"crash is billed again; these were not: {missing}")


def test_crash_sweep(trials: TrialRunner, sut: str, durabench_model: str, seed: int) -> None:
    params = DeepResearchParams(llm_calls=SWEEP_CALLS, model=durabench_model)
    t0 = time.monotonic()
    specs = sweep_specs(sut, params, seed)
    trials.require_supported(specs[0])
    trials.golden.baseline(specs[0])  # first and alone: its wall time sets the deadlines
    specs = measured_bounds(specs, golden_history(trials, specs[0]), parallel=len(specs))
    results = trials.run_many(specs, parallel=len(specs))
    print(f"crash sweep of {sut}: {len(specs)} points + golden in {time.monotonic() - t0:.1f}s")
    for result in results:
        trials.require_valid(result)
        assert result.figures.fault_at_ns is not None, f"{result.spec.trial_id}: no kill"
    golden = golden_history(trials, specs[0])
    waste = [r.figures.redundant_tokens for r in results]
    assert all(w is not None for w in waste), waste
    if get_sut(sut).checkpointing:
        for result in results:
            _check_checkpointed(result, golden)
        return
    for result in results:
        _check_replayed(result, golden)
    points = [f"{r.spec.crash_fraction:.0%}: {w}" for r, w in zip(results, waste, strict=True)]
    assert all(a <= b for a, b in itertools.pairwise(waste)), (  # type: ignore[operator]
        f"without checkpointing the waste must not fall as the crash comes later: {points}")
    assert waste[-1] > waste[0], (  # type: ignore[operator]
        f"without checkpointing a crash at 90% must waste more than one at 10%: {points}")
