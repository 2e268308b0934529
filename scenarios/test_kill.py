"""kill: SIGKILL the worker's process group partway through a research agent loop.

Grid: SUT {reference, reference-nockpt} x crash point {mid_step_early, between_steps,
mid_step_late} x recovery {restart, standby}. Every promised verdict must be true. With
checkpointing the waste stays within the step that was in flight; without it the waste grows with
the crash point and exceeds the checkpointed run's — the comparison the suite exists to make.
"""

from __future__ import annotations

import itertools

import pytest

from harness.faults import KillFault
from harness.pytest_plugin import TrialRunner
from harness.sut import SUT_NAMES, get_sut
from harness.trial import Recovery, TrialSpec, canonical_params
from harness.triggers import CRASH_POINTS, crash_point
from harness.workloads import ResearchParams

PARAMS = ResearchParams(turns=4, tokens_per_turn=200, tool_result_tokens=150, tool_latency_s=0.3)


def kill_spec(sut: str, crash: str, policy: str, seed: int) -> TrialSpec:
    trigger, step = crash_point(
        crash, calls=PARAMS.llm_calls, tool_latency_s=PARAMS.tool_latency_s
    )
    return TrialSpec(
        scenario="kill",
        sut=sut,
        workload="research_agent",
        params_json=canonical_params(PARAMS.to_json()),
        fault=KillFault(),
        trigger=trigger,
        trigger_name=crash,
        crash_step=step,
        recovery=Recovery(policy),  # type: ignore[arg-type]
        seed=seed,
    )


@pytest.mark.parametrize("policy", ["restart", "standby"])
@pytest.mark.parametrize("crash", CRASH_POINTS)
@pytest.mark.parametrize("sut", SUT_NAMES)
def test_kill_recovers(trials: TrialRunner, sut: str, crash: str, policy: str, seed: int) -> None:
    result = trials.run(kill_spec(sut, crash, policy, seed))
    trials.require_valid(result)
    fig, golden = result.figures, result.history.golden
    assert fig.fault_at_ns is not None, "the kill never fired"
    assert fig.time_to_resume_s is not None and fig.time_to_recover_s is not None
    if get_sut(sut).checkpointing:
        assert golden is not None and result.spec.crash_step is not None
        in_flight = golden.step_tokens.get(result.spec.crash_step, 0) if "mid_step" in crash else 0
        assert fig.redundant_tokens is not None and 0 <= fig.redundant_tokens <= in_flight, (
            f"checkpointed run wasted {fig.redundant_tokens} tokens; "
            f"the in-flight step was worth {in_flight}"
        )


@pytest.mark.parametrize("policy", ["restart", "standby"])
def test_kill_without_checkpointing_costs_more(
    trials: TrialRunner, policy: str, seed: int
) -> None:
    wanted = set(str(trials.config.getoption("--sut")).split(","))
    if not {"reference", "reference-nockpt"} <= wanted:
        pytest.skip("the comparison needs both reference and reference-nockpt in --sut")
    waste: dict[str, list[int]] = {"reference": [], "reference-nockpt": []}
    for crash in CRASH_POINTS:
        for sut in waste:
            result = trials.run(kill_spec(sut, crash, policy, seed))
            assert result.figures.redundant_tokens is not None
            waste[sut].append(result.figures.redundant_tokens)
    nockpt, ckpt = waste["reference-nockpt"], waste["reference"]
    assert all(a < b for a, b in itertools.pairwise(nockpt)), (
        f"without checkpointing, waste should grow with the crash point {CRASH_POINTS}: {nockpt}"
    )
    assert all(n > c for n, c in zip(nockpt, ckpt, strict=True)), (
        f"without checkpointing every crash point should waste more: nockpt {nockpt} vs {ckpt}"
    )
