"""The research agent as a Pydantic AI user writes it for Temporal: the model, the ``search``
tool and the ``TemporalDurability`` capability. :func:`build` makes :data:`AGENT` once per worker
process, from the trial's lease; the worker's workflow imports this module passed through the
sandbox, so workflow code and activities share that one agent (as a user's module-level agent).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pydantic_ai import Agent, RunContext
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.messages import ModelResponse
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.tools import ToolDefinition
from temporalio import activity
from temporalio.workflow import ActivityConfig

from harness.sut.pydantic_ai_temporal import AGENT_NAME
from harness.sut.temporal import TemporalTimeouts
from harness.sut.temporal._serving import activity_epoch, activity_options
from harness.workloads import attribution, run_tool
from harness.workloads._calls import LLM_TIMEOUT_S


class _Settings:
    executor_id = ""
    provider_url = ""
    timeouts = TemporalTimeouts()


SETTINGS = _Settings()


@dataclass
class ResearchDeps:
    """The run's dependencies (serialised into each activity's input by Pydantic AI)."""

    topic: str
    turns: int
    tool_latency_s: float
    tool_result_tokens: int


def _step_of(body: bytes) -> int:
    """A chat request's logical step: the assistant messages it carries."""
    try:
        messages = json.loads(body or b"{}").get("messages", [])
    except ValueError:
        return 0
    return sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")


async def _attribute(request: Any) -> None:
    """The model client's request hook: whose call this is, for the provider's ledger."""
    if not activity.in_activity():
        return
    info = activity.info()
    request.headers.update(attribution(info.workflow_id or "", _step_of(request.content),
                                       await activity_epoch(), SETTINGS.executor_id))  # fmt: skip


def _model() -> OpenAIChatModel:
    client = AsyncOpenAI(
        base_url=SETTINGS.provider_url.rstrip("/") + "/v1", api_key="durabench-mock",
        max_retries=0, timeout=LLM_TIMEOUT_S,
        http_client=DefaultAsyncHttpxClient(event_hooks={"request": [_attribute]}),
    )  # fmt: skip
    return OpenAIChatModel("mock-gpt-4o", provider=OpenAIProvider(openai_client=client))


def _turn(ctx: RunContext[ResearchDeps]) -> int:
    """The step of the model request being prepared: the responses so far."""
    return sum(1 for m in ctx.messages if isinstance(m, ModelResponse))


async def _research_turns_only(ctx: RunContext[ResearchDeps],
                               tool: ToolDefinition) -> ToolDefinition | None:  # fmt: skip
    return tool if 1 <= _turn(ctx) <= ctx.deps.turns else None


async def search(ctx: RunContext[ResearchDeps], query: str) -> str:
    """Search the web and return a digest of the results."""
    info = activity.info()
    step = ctx.run_step  # the research run's k-th request is turn k (the plan was its own run)
    headers = attribution(info.workflow_id or "", step, await activity_epoch(),
                          SETTINGS.executor_id)  # fmt: skip
    result = await asyncio.to_thread(run_tool, "search", {"query": query},
                                     ctx.deps.tool_latency_s, ctx.deps.tool_result_tokens,
                                     provider_url=SETTINGS.provider_url, headers=headers)
    return str(result)


def _agent(t: TemporalTimeouts) -> Agent[ResearchDeps, str]:
    config = ActivityConfig(**activity_options(t))  # type: ignore[typeddict-item]
    agent: Agent[ResearchDeps, str] = Agent(
        _model(), name=AGENT_NAME, deps_type=ResearchDeps,
        instructions="You are a meticulous research agent.",
        capabilities=[TemporalDurability(activity_config=config)],
    )  # fmt: skip
    agent.tool(prepare=_research_turns_only)(search)
    return agent


AGENT: Agent[ResearchDeps, str] | None = None
"""Built by :func:`build` (every worker of a trial builds the same from the same lease)."""


def build(executor_id: str, provider_url: str,
          timeouts: TemporalTimeouts) -> Agent[ResearchDeps, str]:
    """Make this process's :data:`AGENT`."""
    global AGENT
    SETTINGS.executor_id, SETTINGS.provider_url, SETTINGS.timeouts = (executor_id, provider_url,
                                                                      timeouts)
    AGENT = _agent(timeouts)
    return AGENT


