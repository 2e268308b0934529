"""The research agent as an OpenAI Agents SDK user writes it for Temporal: the model provider the
``OpenAIAgentsPlugin`` builds its model activity's model from, and the ``search`` tool, an
activity. :func:`configure` sets this process's executor id, provider and timeouts once; the
worker's workflow imports this module passed through the sandbox.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agents import Agent, FunctionTool, ModelSettings, RunContextWrapper
from agents.models.openai_provider import OpenAIProvider
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from temporalio import activity, workflow

from harness.sut.temporal import TemporalTimeouts
from harness.sut.temporal._serving import activity_epoch, activity_options, heartbeating
from harness.workloads import attribution, run_tool
from harness.workloads._calls import LLM_TIMEOUT_S
from harness.workloads.research_agent import ResearchParams

MODEL = "mock-gpt-4o"


class _Settings:
    executor_id = ""
    provider_url = ""
    timeouts = TemporalTimeouts()


SETTINGS = _Settings()


def configure(executor_id: str, provider_url: str, timeouts: TemporalTimeouts) -> None:
    SETTINGS.executor_id, SETTINGS.provider_url, SETTINGS.timeouts = (executor_id, provider_url,
                                                                      timeouts)  # fmt: skip


@dataclass
class ResearchContext:
    """The run's context, in workflow memory (replayed with the workflow): whether the research
    run has begun and how many searches it made."""

    turns: int
    researching: bool = False
    searches: int = 0


def _model_turns(body: bytes) -> int:
    """A Responses request's logical step: the model turns its input carries (an assistant
    message or a function call each)."""
    try:
        items = json.loads(body or b"{}").get("input", [])
    except ValueError:
        return 0
    if not isinstance(items, list):
        return 0
    return sum(1 for i in items if isinstance(i, dict)
               and (i.get("type") == "function_call" or i.get("role") == "assistant"))  # fmt: skip


async def _attribute(request: Any) -> None:
    """The model client's request hook: whose call this is, for the provider's ledger."""
    if not activity.in_activity():
        return
    info = activity.info()
    request.headers.update(attribution(info.workflow_id or "", _model_turns(request.content),
                                       await activity_epoch(), SETTINGS.executor_id))  # fmt: skip


def model_provider() -> OpenAIProvider:
    """The Agents SDK's OpenAI provider (Responses API) on a client pointed at the mock provider;
    the plugin's model activity makes its model from it."""
    client = AsyncOpenAI(
        base_url=SETTINGS.provider_url.rstrip("/") + "/v1", api_key="durabench-mock",
        max_retries=0, timeout=LLM_TIMEOUT_S,
        http_client=DefaultAsyncHttpxClient(event_hooks={"request": [_attribute]}),
    )  # fmt: skip
    return OpenAIProvider(openai_client=client, use_responses=True)


@activity.defn(name="search")
async def search(args: dict[str, Any]) -> str:
    """The search tool's activity: the workload's tool, heartbeating while it runs."""
    info = activity.info()
    headers = attribution(info.workflow_id or "", int(args["step"]), await activity_epoch(),
                          SETTINGS.executor_id)  # fmt: skip
    result = await heartbeating(lambda: run_tool(
        "search", {"query": args["query"]}, float(args["latency_s"]), int(args["result_tokens"]),
        provider_url=SETTINGS.provider_url, headers=headers), SETTINGS.timeouts.heartbeat_s)
    return str(result)


_SEARCH_SCHEMA = {"type": "object", "properties": {"query": {"type": "string"}},
                  "required": ["query"], "additionalProperties": False}  # fmt: skip


def _search_tool(p: ResearchParams) -> FunctionTool:
    """``search`` as a tool whose call is the activity above (``activity_as_tool``'s shape, plus
    the turn it answers); offered on the research run's turns only."""

    async def invoke(ctx: RunContextWrapper[ResearchContext], raw: str) -> str:
        ctx.context.searches += 1
        query = str(json.loads(raw or "{}").get("query", ""))
        result: str = await workflow.execute_activity(
            search, {"query": query, "step": ctx.context.searches,
                     "latency_s": p.tool_latency_s, "result_tokens": p.tool_result_tokens},
            **activity_options(SETTINGS.timeouts))  # fmt: skip
        return result

    def offered(ctx: RunContextWrapper[ResearchContext], agent: Any) -> bool:
        return ctx.context.researching and ctx.context.searches < ctx.context.turns

    return FunctionTool(name="search", description="Search the web and return a digest.",
                        params_json_schema=_SEARCH_SCHEMA, on_invoke_tool=invoke,
                        is_enabled=offered)  # fmt: skip


def research_agent(p: ResearchParams) -> Agent[ResearchContext]:
    return Agent[ResearchContext](
        name="research", instructions="You are a meticulous research agent.", model=MODEL,
        tools=[_search_tool(p)], model_settings=ModelSettings(max_tokens=p.tokens_per_turn),
    )  # fmt: skip
