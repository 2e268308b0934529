"""The deep-research workload in-process (respx-mocked provider, sub-agents run inline): its
logical step numbering, the fan-out turn, the growing prompt, the nonces it names, its time
compression and its parameters' validation."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from harness.llm.respx_fixtures import MOCK_BASE_URL, MockProvider, mock_llm  # noqa: F401
from harness.workloads import (
    JSON,
    ChildSpec,
    DeepResearchParams,
    LlmReply,
    LlmRequest,
    TimeCompression,
    attribution,
    call_llm,
    deep_research,
    run_tool,
)


class InlineContext:
    """An AgentContext with no durability; sub-agents run inline as workflows ``<id>:child:<i>``."""

    def __init__(self, workflow_id: str = "wf-deep") -> None:
        self.workflow_id = workflow_id
        self.calls: list[tuple[str, str, int]] = []
        self.requests: list[LlmRequest] = []

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        self.calls.append((self.workflow_id, "llm", step))
        self.requests.append(request)
        headers = attribution(self.workflow_id, step, 1, "x")
        return call_llm(MOCK_BASE_URL, step, request, headers)

    def tool(self, step: int, name: str, arguments: Mapping[str, JSON], *,
             latency_s: float = 0.0, result_tokens: int = 100) -> JSON:  # fmt: skip
        self.calls.append((self.workflow_id, "tool", step))
        return run_tool(name, arguments, 0.0, result_tokens)

    def effect(self, step: int, name: str, key: str, payload: JSON) -> bool:
        self.calls.append((self.workflow_id, "effect", step))
        return True

    def sleep(self, step: int, seconds: float) -> None:
        self.calls.append(("sleep", step))

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[Any]:
        self.calls.append((self.workflow_id, "fan_out", step))
        results = []
        for i, child in enumerate(children):
            sub = InlineContext(f"{self.workflow_id}:child:{i}")
            results.append(deep_research(sub, child.params))
            self.calls += sub.calls
        return results


def test_lead_loop_numbers_its_steps_and_delegates_partway(mock_llm: MockProvider) -> None:  # noqa: F811
    params = DeepResearchParams(llm_calls=8, sub_agents=2, sub_agent_calls=3, output_tokens=20,
                                report_tokens=30, tool_result_tokens=50, time_scale=100)
    ctx = InlineContext()
    output = deep_research(ctx, params.to_json())
    lead = [(kind, step) for wf, kind, step in ctx.calls if wf == "wf-deep"]
    assert params.fan_out_step == 4
    assert lead == [("llm", 0), ("llm", 1), ("tool", 1), ("llm", 2), ("tool", 2), ("llm", 3),
                    ("tool", 3), ("llm", 4), ("fan_out", 4), ("llm", 5), ("tool", 5),
                    ("llm", 6), ("tool", 6), ("llm", 7), ("effect", 8)]  # fmt: skip
    child = [(kind, step) for wf, kind, step in ctx.calls if wf == "wf-deep:child:0"]
    assert child == [("llm", 0), ("llm", 1), ("tool", 1), ("llm", 2)]
    entries = [e for e in mock_llm.entries if e.workflow_id == "wf-deep"]
    prompts = [e.prompt_tokens for e in entries]
    assert all(a < b for a, b in itertools.pairwise(prompts)), prompts
    assert prompts[-1] > prompts[0] + 6 * params.tool_result_tokens  # tool results accumulate
    assert output["llm_nonces"] == {str(e.step): e.nonce for e in entries}
    assert len(output["sub_agents"]) == 2 and output["published"] is True
    assert {r["tokens_per_second"] for r in ctx.requests} == {50.0 * 100}


def test_done_fraction_counts_the_lead_calls_before_the_one_in_flight() -> None:
    params = DeepResearchParams(llm_calls=40)
    assert params.done_fraction(1) == 0.0
    assert params.done_fraction(37) == pytest.approx(0.9)
    with pytest.raises(ValueError, match=r"1 \.\. 40"):
        params.done_fraction(41)


def test_time_compression_scales_speed_and_latency_and_back() -> None:
    timing = TimeCompression(tokens_per_second_real=40, tool_latency_real_s=60, time_scale=120)
    assert timing.tokens_per_second == 4800 and timing.tool_latency_s == 0.5
    assert timing.real_s(0.25) == 30
    with pytest.raises(ValueError, match="time_scale >= 1"):
        TimeCompression(time_scale=0.5)


@pytest.mark.parametrize(("params", "message"), [
    ({"llm_calls": 3}, "4 <= llm_calls"), ({"model": "gpt-nope"}, "unknown model 'gpt-nope'"),
    ({"colour": 1}, "unknown deep_research parameter"), ({"role": "boss"}, "role must be"),
])
def test_bad_parameters_say_what_is_valid(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DeepResearchParams.from_json(params)
