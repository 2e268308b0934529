"""``reference-resume`` end to end: real Postgres, provider and worker processes, real SIGKILL.

A worker killed while its LLM step waits on a background response: the replacement retrieves the
response the provider finished meanwhile (nothing billed twice) -- or, when the provider no longer
holds it, calls again and the second bill is counted as waste.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.env.local import LocalEnvironment
from harness.faults import KillFault
from harness.faults._base import FaultTarget
from harness.history import GoldenBaseline
from harness.runner import golden_baseline, run_trial
from harness.trial import Recovery, TrialResult, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)
HELD_CALL = 2  # logical step 1


@dataclass(frozen=True)
class KillAndDropResponses:
    """SIGKILL the worker while its call is held, let the provider finish and bill the call,
    then drop every stored response (as their expiry or a provider restart would)."""

    call: int
    name: str = "kill_drop_responses"
    kills_worker: bool = True

    def inject(self, target: FaultTarget) -> None:
        target.worker.signal(signal.SIGKILL)
        target.worker.wait(10.0)
        provider = target.env.provider_client()
        provider.release()
        provider.wait_for(target.workflow_id, self.call, "responded", 10.0)
        assert provider.drop_responses() >= 1

    def heal(self, target: FaultTarget) -> None:
        return None


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="resume-sut-test") as env:
        yield env


@pytest.fixture(scope="module")
def golden(env: LocalEnvironment) -> GoldenBaseline:
    return golden_baseline(run_trial(env, spec().golden()))


def spec(**kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(
        scenario="test", sut="reference-resume", params_json=canonical_params(PARAMS.to_json()),
        timeout_s=60.0, trigger=Trigger("received", call=HELD_CALL), crash_step=HELD_CALL - 1,
        recovery=Recovery("restart"),
    )
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def _held_step(result: TrialResult) -> list[tuple[int, int, bool, int | None]]:
    return [(e.status, e.attempt or 0, e.delivered, e.resumed_attempt)
            for e in result.history.trial_ledger() if e.step == HELD_CALL - 1]


def test_a_killed_step_s_response_is_retrieved_not_paid_again(
    env: LocalEnvironment, golden: GoldenBaseline
) -> None:
    result = run_trial(env, spec(fault=KillFault(), trigger_name="held"), golden)
    assert result.judgement.valid == "true", result.judgement
    assert _held_step(result) == [(200, 1, True, 2)]  # one call, delivered to its resumer
    assert result.figures.redundant_tokens == 0 and result.figures.redundant_calls == 0
    [record] = [s for s in result.history.steps if s.kind == "llm" and s.step == HELD_CALL - 1]
    [call] = [e for e in result.history.trial_ledger() if e.step == HELD_CALL - 1]
    assert (record.name, record.epoch, record.nonce) == ("llm_resume", 2, call.nonce)


def test_a_response_the_provider_dropped_is_called_again_and_counted(
    env: LocalEnvironment, golden: GoldenBaseline
) -> None:
    result = run_trial(env, spec(fault=KillAndDropResponses(HELD_CALL), trigger_name="dropped"),
                       golden)  # fmt: skip
    assert result.judgement.valid == "true", result.judgement
    # Billed once by the dead worker's call (never delivered), once by the replacement's.
    assert _held_step(result) == [(200, 1, False, None), (200, 2, True, None)]
    assert result.figures.redundant_tokens == golden.step_tokens[HELD_CALL - 1] > 0
    assert result.figures.redundant_calls == 1
