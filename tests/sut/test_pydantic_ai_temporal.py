"""The ``pydantic-ai+temporal`` SUT end to end: Pydantic AI's own agent loop on a real Temporal dev
server, against the real mock provider's chat completions; a real SIGKILL mid-call.

Skipped (with what to install) when Pydantic AI or Temporal is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.env.local import LocalEnvironment
from harness.faults import KillFault
from harness.runner import golden_baseline, run_trial
from harness.sut import get_sut
from harness.sut.pydantic_ai_temporal import (
    INSTALL,
    PYDANTIC_AI_TEMPORAL_SUT,
    pydantic_ai_step,
)
from harness.sut.temporal import ENV_ADDRESS, ENV_PROVIDER
from harness.trial import Recovery, TrialResult, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

SUT = "pydantic-ai+temporal"
PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)

needs_sut = pytest.mark.skipif(PYDANTIC_AI_TEMPORAL_SUT.available() is not None,
                               reason=str(PYDANTIC_AI_TEMPORAL_SUT.available()))  # fmt: skip


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="pydantic-ai-temporal-test") as env:
        yield env


def spec(**kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(scenario="test", sut=SUT,
                                   params_json=canonical_params(PARAMS.to_json()),
                                   timeout_s=90.0)  # fmt: skip
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def test_it_is_registered_like_any_sut_and_runs_research_agent_only() -> None:
    sut = get_sut(SUT)
    assert sut is PYDANTIC_AI_TEMPORAL_SUT
    assert sut.workloads == frozenset({"research_agent"})
    assert sut.twin is None, "no checkpointing-off twin of the framework agent yet"


def test_its_activities_read_as_the_workloads_steps() -> None:
    history = [{"kind": "request"}, {"kind": "response"}, {"kind": "request"},
               {"kind": "response"}, {"kind": "request"}]  # fmt: skip
    answer = {"provider_response_id": "chatcmpl-abc123", "parts": []}
    assert pydantic_ai_step("agent__research__model_request", {"messages": history},
                            answer) == ("llm", 2, "abc123")  # fmt: skip
    assert pydantic_ai_step("agent__research__model_request", {"messages": []},
                            {}) == ("llm", 0, None)  # fmt: skip
    tool = {"name": "search", "serialized_run_context": {"run_step": 3}}
    assert pydantic_ai_step("agent__research__toolset__<agent>__call_tool", tool,
                            {"result": "x"}) == ("tool", 3, None)  # fmt: skip
    assert pydantic_ai_step("publish", {"step": 5}, True) == ("effect", 5, None)
    assert pydantic_ai_step("agent__research__model_count_tokens", {}, 1)[0] == "other"


def test_the_worker_refuses_another_workload_and_a_missing_environment() -> None:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_ADDRESS, ENV_PROVIDER)}
    base = [sys.executable, "-m", "harness.sut.pydantic_ai_temporal.worker", "--task-queue", "q"]
    done = subprocess.run([*base, "--workload", "research_agent"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    if "No module named" in done.stderr:
        pytest.skip(f"pydantic-ai is not installed: {INSTALL}")
    assert done.returncode == 2 and ENV_ADDRESS in done.stderr, done.stderr
    done = subprocess.run([*base, "--workload", "deep_research"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "research_agent only" in done.stderr, done.stderr


@needs_sut
def test_the_agent_loop_runs_the_workloads_steps(env: LocalEnvironment) -> None:
    history = run_trial(env, spec().golden()).history
    root = history.workflows[0]
    assert root.status == "SUCCESS", root
    llm = [s for s in history.steps if s.kind == "llm"]
    assert [s.step for s in llm] == list(range(PARAMS.llm_calls))
    assert [s.step for s in history.steps if s.kind == "tool"] == list(range(1, PARAMS.turns + 1))
    assert [e.step for e in history.trial_ledger()] == list(range(PARAMS.llm_calls))
    assert [s.nonce for s in llm] == [e.nonce for e in history.trial_ledger()]
    assert root.output["llm_nonces"] == {str(s.step): s.nonce for s in llm}
    assert root.output["published"] is True
    assert [s.step for s in history.steps if s.kind == "effect"] == [PARAMS.turns + 2]


@needs_sut
def test_a_worker_killed_mid_call_is_recovered_by_the_servers_retry(
    env: LocalEnvironment,
) -> None:
    golden = golden_baseline(run_trial(env, spec().golden()))
    trial = spec(trigger=Trigger("received", call=2), trigger_name="held2", fault=KillFault(),
                 recovery=Recovery("restart"))  # fmt: skip
    result: TrialResult = run_trial(env, trial, golden)
    assert result.valid == "true", result.judgement.summary()
    ledger = result.history.trial_ledger()
    assert [e.attempt for e in ledger if e.step == 1] == [1, 2], "the killed call ran again"
    assert [e.step for e in ledger if e.step == 0] == [0], "the plan was not paid again"
    assert any(e.exit_code == -9 for e in result.history.events_of("worker_exited"))
