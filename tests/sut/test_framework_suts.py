"""The agent-framework SUTs end to end: Pydantic AI's and the OpenAI Agents SDK's own agent loops
on a real Temporal dev server, against the real mock provider (chat completions, Responses); a
real SIGKILL mid-call.

Skipped (with what to install) when a framework is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.env.local import LocalEnvironment
from harness.faults import KillFault
from harness.pytest_plugin import TrialRunner
from harness.runner import golden_baseline, run_trial
from harness.sut import get_sut
from harness.sut.openai_agents_temporal import openai_agents_step
from harness.sut.pydantic_ai_temporal import pydantic_ai_step
from harness.sut.temporal import ENV_ADDRESS, ENV_PROVIDER
from harness.trial import Recovery, TrialResult, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

FRAMEWORKS = {"pydantic-ai+temporal": "harness.sut.pydantic_ai_temporal.worker",
              "openai-agents+temporal": "harness.sut.openai_agents_temporal.worker"}
PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)


@pytest.fixture(params=sorted(FRAMEWORKS))
def sut(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def runnable(sut: str) -> None:
    reason = get_sut(sut).available()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="pydantic-ai-temporal-test") as env:
        yield env


def spec(sut: str, **kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(scenario="test", sut=sut,
                                   params_json=canonical_params(PARAMS.to_json()),
                                   timeout_s=90.0)  # fmt: skip
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def test_it_is_registered_like_any_sut_and_runs_research_agent_only(sut: str) -> None:
    loaded = get_sut(sut)
    assert loaded.name == sut
    assert loaded.workloads == frozenset({"research_agent"})  # type: ignore[attr-defined]
    assert {"handle_failed_turns", "cooldown_s"} <= loaded.unsupported_params  # type: ignore[attr-defined]
    assert loaded.twin is None, "no checkpointing-off twin of the framework agent yet"


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


def test_the_agents_sdk_activities_read_as_the_workloads_steps() -> None:
    turns = [{"role": "user", "content": "x"}, {"role": "assistant", "type": "message"},
             {"role": "user", "content": "y"}, {"type": "function_call", "call_id": "c1"},
             {"type": "function_call_output", "call_id": "c1"}]  # fmt: skip
    assert openai_agents_step("invoke_model_activity", {"input": turns},
                              {"response_id": "resp_9f00"}) == ("llm", 2, "9f00")  # fmt: skip
    assert openai_agents_step("invoke_model_activity", {"input": "a prompt"},
                              {}) == ("llm", 0, None)  # fmt: skip
    assert openai_agents_step("search", {"query": "q", "step": 3}, "r") == ("tool", 3, None)
    assert openai_agents_step("publish", {"step": 5}, True) == ("effect", 5, None)
    assert openai_agents_step("something_else", {}, None)[0] == "other"


def test_the_worker_refuses_another_workload_and_a_missing_environment(sut: str) -> None:
    runnable(sut)
    env = {k: v for k, v in os.environ.items() if k not in (ENV_ADDRESS, ENV_PROVIDER)}
    base = [sys.executable, "-m", FRAMEWORKS[sut], "--task-queue", "q"]
    done = subprocess.run([*base, "--workload", "research_agent"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and ENV_ADDRESS in done.stderr, done.stderr
    done = subprocess.run([*base, "--workload", "deep_research"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "research_agent only" in done.stderr, done.stderr


def test_the_agent_loop_runs_the_workloads_steps(env: LocalEnvironment, sut: str) -> None:
    runnable(sut)
    history = run_trial(env, spec(sut).golden()).history
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


def test_a_worker_killed_mid_call_is_recovered_by_the_servers_retry(
    env: LocalEnvironment, sut: str
) -> None:
    runnable(sut)
    golden = golden_baseline(run_trial(env, spec(sut).golden()))
    trial = spec(sut, trigger=Trigger("received", call=2), trigger_name="held2", fault=KillFault(),
                 recovery=Recovery("restart"))  # fmt: skip
    result: TrialResult = run_trial(env, trial, golden)
    assert result.valid == "true", result.judgement.summary()
    ledger = result.history.trial_ledger()
    assert [e.attempt for e in ledger if e.step == 1] == [1, 2], "the killed call ran again"
    assert [e.step for e in ledger if e.step == 0] == [0], "the plan was not paid again"
    assert any(e.exit_code == -9 for e in result.history.events_of("worker_exited"))
    fault_at = result.history.fault_at_ns
    assert fault_at is not None
    after = {s.epoch for s in result.history.steps if s.recorded_ns > fault_at and not s.error}
    assert after == {2}, f"every step after the retry is the new execution's (epoch 2): {after}"
    late = {e.attempt for e in ledger if e.received_ns > fault_at}
    assert late == {2}, f"the provider saw every later call as epoch 2 (the history's rule): {late}"
    effects = [e.attempt for e in result.history.effects if e.name == "publish"]
    assert effects == [2], f"the report was published once, by epoch 2: {effects}"


def test_a_trial_it_cannot_run_skips_before_its_golden_run(sut: str) -> None:
    runnable(sut)
    assert TrialRunner.require_supported(spec(sut)).name == sut
    with pytest.raises(pytest.skip.Exception, match="runs only the research_agent"):
        TrialRunner.require_supported(spec(sut, workload="deep_research"))
    failing = canonical_params({**PARAMS.to_json(), "handle_failed_turns": True})
    with pytest.raises(pytest.skip.Exception, match=r"cannot honour.*handle_failed_turns"):
        TrialRunner.require_supported(spec(sut, params_json=failing))
    # the hand-written adapter runs every workload
    hand_written = TrialRunner.require_supported(spec("temporal", workload="deep_research"))
    assert hand_written.name == "temporal"
