"""Agent programs, written once against :class:`AgentContext` and run by every SUT.

The registry is a literal dict: a workload is a function ``(ctx, params) -> JSON``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.workloads._background import (
    ResponseFailedError,
    ResponseNotReadyError,
    await_response,
    cancel_response,
    start_response,
)
from harness.workloads._calls import (
    HEADER_ATTEMPT,
    HEADER_EXECUTOR,
    HEADER_STEP,
    HEADER_WORKFLOW,
    OOM_ARM_ENV,
    POISON_ENV,
    EffectFencedError,
    GarbageResponseError,
    announce_fences,
    attribution,
    call_llm,
    post_effect,
    run_tool,
)
from harness.workloads._context import JSON, AgentContext, ChildSpec, LlmReply, LlmRequest
from harness.workloads._timing import TimeCompression
from harness.workloads.deep_research import DeepResearchParams, deep_research
from harness.workloads.multi_agent import multi_agent
from harness.workloads.research_agent import ResearchParams, research_agent

Workload = Callable[[AgentContext, Mapping[str, JSON]], JSON]

WORKLOADS: dict[str, Workload] = {
    "research_agent": research_agent,
    "multi_agent": multi_agent,
    "deep_research": deep_research,
}


def nominal_real_time_s(workload: str, params: Mapping[str, JSON]) -> float | None:
    """The real-time length a time-compressed workload's run stands for (its own estimate from
    its real-time speeds); None for a workload that is not time-compressed or bad parameters."""
    if workload != "deep_research":
        return None
    try:
        return DeepResearchParams.from_json(params).real_time_estimate_s()
    except (TypeError, ValueError):
        return None


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(
            f"unknown workload {name!r}; valid workloads: {', '.join(sorted(WORKLOADS))}"
        ) from None


__all__ = [
    "HEADER_ATTEMPT",
    "HEADER_EXECUTOR",
    "HEADER_STEP",
    "HEADER_WORKFLOW",
    "JSON",
    "OOM_ARM_ENV",
    "POISON_ENV",
    "WORKLOADS",
    "AgentContext",
    "ChildSpec",
    "DeepResearchParams",
    "EffectFencedError",
    "GarbageResponseError",
    "LlmReply",
    "LlmRequest",
    "ResearchParams",
    "ResponseFailedError",
    "ResponseNotReadyError",
    "TimeCompression",
    "Workload",
    "announce_fences",
    "attribution",
    "await_response",
    "call_llm",
    "cancel_response",
    "deep_research",
    "get_workload",
    "multi_agent",
    "nominal_real_time_s",
    "post_effect",
    "research_agent",
    "run_tool",
    "start_response",
]
