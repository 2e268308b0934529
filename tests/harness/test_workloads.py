"""Workloads in-process: the research agent's LLM calls through the openai SDK, answered by the
respx-mocked provider (no server, no runtime), and its parameters' validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from harness.llm.respx_fixtures import MOCK_BASE_URL, MockProvider, mock_llm  # noqa: F401
from harness.workloads import (
    JSON,
    ChildSpec,
    LlmReply,
    LlmRequest,
    ResearchParams,
    attribution,
    call_llm,
    research_agent,
    run_tool,
)


class PlainContext:
    """An AgentContext with no durability: every call just runs."""

    workflow_id = "wf-unit"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.effects: dict[str, JSON] = {}

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        self.calls.append(("llm", step))
        return call_llm(MOCK_BASE_URL, step, request, attribution(self.workflow_id, step, 1, "x"))

    def tool(self, step: int, name: str, arguments: Mapping[str, JSON], *,
             latency_s: float = 0.0, result_tokens: int = 100) -> JSON:  # fmt: skip
        self.calls.append(("tool", step))
        return run_tool(name, arguments, 0.0, result_tokens)

    def effect(self, step: int, name: str, key: str, payload: JSON) -> bool:
        self.calls.append(("effect", step))
        applied = key not in self.effects
        self.effects.setdefault(key, payload)
        return applied

    def sleep(self, step: int, seconds: float) -> None:
        self.calls.append(("sleep", step))

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[Any]:
        raise NotImplementedError


def test_research_agent_runs_its_loop_with_growing_context(mock_llm: MockProvider) -> None:  # noqa: F811
    ctx = PlainContext()
    params = ResearchParams(turns=3, tokens_per_turn=40, tool_result_tokens=30)
    output = research_agent(ctx, params.to_json())
    assert ctx.calls == [("llm", 0), ("llm", 1), ("tool", 1), ("llm", 2), ("tool", 2),
                         ("llm", 3), ("tool", 3), ("llm", 4), ("effect", 5)]  # fmt: skip
    entries = mock_llm.entries
    assert [e.step for e in entries] == [0, 1, 2, 3, 4]
    assert all(e.workflow_id == "wf-unit" and e.completion_tokens == 40 for e in entries)
    prompts = [e.prompt_tokens for e in entries]
    assert prompts == sorted(prompts) and len(set(prompts)) == len(prompts), prompts
    assert output["llm_nonces"] == {str(e.step): e.nonce for e in entries}
    assert output["published"] is True and ctx.effects == {"wf-unit:publish": {
        "report": output["report"]}}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "message"),
    [({"turns": 0}, "turns >= 1"), ({"turnz": 3}, "unknown research_agent parameter"),
     ({"cooldown_s": -1.0}, "cooldown_s >= 0")],
)
def test_bad_parameters_say_what_is_valid(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResearchParams.from_json(params)


def test_tools_are_deterministic() -> None:
    one = run_tool("search", {"query": "a"}, 0.0, 12)
    assert one == run_tool("search", {"query": "a"}, 0.0, 12)
    assert one != run_tool("search", {"query": "b"}, 0.0, 12)
    assert len(one.split()) == 12
    with pytest.raises(ValueError, match="only define 'search'"):
        run_tool("browse", {}, 0.0, 1)


class FailingTurnContext(PlainContext):
    """Turn ``failing`` raises, as a durable LLM step that failed for good does."""

    def __init__(self, failing: int) -> None:
        super().__init__()
        self.failing = failing

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        if step == self.failing:
            self.calls.append(("llm-failed", step))
            raise RuntimeError(f"step {step} failed for good")
        return super().llm(step, request)


def test_research_agent_handles_a_failed_turn_when_asked(mock_llm: MockProvider) -> None:  # noqa: F811
    params = ResearchParams(turns=3, tokens_per_turn=40, tool_result_tokens=30,
                            handle_failed_turns=True)  # fmt: skip
    ctx = FailingTurnContext(failing=2)
    output = research_agent(ctx, params.to_json())
    assert output["failed_turns"] == [2]
    assert ("tool", 2) not in ctx.calls and ("llm", 3) in ctx.calls
    assert "2" not in output["llm_nonces"]
    with pytest.raises(RuntimeError, match="failed for good"):
        research_agent(FailingTurnContext(failing=2), ResearchParams(turns=3).to_json())


def test_the_cool_down_sleeps_after_turn_two_and_only_when_asked(
        mock_llm: MockProvider) -> None:  # noqa: F811
    ctx = PlainContext()
    research_agent(ctx, ResearchParams(turns=3, tokens_per_turn=40, cooldown_s=5.0).to_json())
    assert ctx.calls[:6] == [("llm", 0), ("llm", 1), ("tool", 1), ("llm", 2), ("tool", 2),
                             ("sleep", 2)]  # fmt: skip
    assert "cooldown_s" not in ResearchParams().to_json(), "loops without one keep their params"
    assert ResearchParams(turns=1, cooldown_s=1.0).cooldown_turn == 1
