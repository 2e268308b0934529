"""The small protocol a workload is written against, and the values that cross it.

A workload is an agent program written once. It never talks to a durable runtime directly: it
calls ``ctx.llm(...)``, ``ctx.tool(...)``, ``ctx.effect(...)`` and ``ctx.fan_out(...)``, and each
SUT adapter (``harness/sut/``) makes those calls durable its own way. Every call names the
workload's **logical step index**, which the adapter forwards to the provider as
``X-Durabench-Step`` so the ledger alone can place progress (docs/architecture.md, Figures).

Everything that crosses the protocol is JSON, because a durable runtime stores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

JSON = Any


class LlmRequest(TypedDict, total=False):
    """The body of one chat completion request (OpenAI schema, the parts workloads use)."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    max_tokens: int
    tokens_per_second: float
    """Not sent in the body: the generation speed the provider simulates for this call, sent as
    the ``X-Durabench-Tokens-Per-Second`` header (time-compressed workloads set it)."""


class LlmReply(TypedDict):
    """What a durable LLM step returns and records: the assistant message plus accounting.

    ``nonce`` is the provider's per-response nonce (taken from the response id), which lets the
    checkers tell a replayed response from a re-executed call.
    """

    step: int
    content: str | None
    tool_calls: list[dict[str, Any]]
    nonce: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ChildSpec:
    """One sub-agent to run as a child workflow: a workload name and its parameters."""

    workload: str
    params: Mapping[str, JSON]


class AgentContext(Protocol):
    """What a workload may do. Each method is one durable step in a checkpointing SUT."""

    @property
    def workflow_id(self) -> str: ...

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        """Call the provider once for logical step ``step``."""
        ...

    def tool(
        self,
        step: int,
        name: str,
        arguments: Mapping[str, JSON],
        *,
        latency_s: float = 0.0,
        result_tokens: int = 100,
    ) -> JSON:
        """Run a local tool (search, ...) for logical step ``step``; it takes ``latency_s``."""
        ...

    def effect(self, step: int, name: str, key: str, payload: JSON) -> bool:
        """Send a side effect with an idempotency key to the effect sink; True when applied."""
        ...

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[JSON]:
        """Run sub-agents concurrently (child workflows) and return their results in order."""
        ...

    def sleep(self, step: int, seconds: float) -> None:
        """Wait ``seconds`` (a cool-down: a rate limit's reset, a retry-after), durably where the
        runtime can: an execution recovered mid-sleep wakes when the first one would have, not
        ``seconds`` after its recovery (``SutDescription.durable_sleep`` says which)."""
        ...
