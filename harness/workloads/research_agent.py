"""``research_agent``: plan -> N tool-using turns with growing context -> write report -> publish.

Logical steps (the ``X-Durabench-Step`` of each LLM call):
    0                plan
    1 .. turns       one turn each: the model asks for a tool call, the tool runs (same step index)
    turns + 1        write the report
    turns + 2        publish through the effect sink (no LLM call)

Every tool result is appended to the conversation, so each call's prompt is larger than the last:
a late crash costs more without checkpointing. The output names the nonce of every LLM response it
was built from (``llm_nonces``), which is what the output-consistency checker reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from harness.workloads._context import JSON, AgentContext, LlmReply

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web and return a digest of the results.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


COOLDOWN_TURN = 2
"""The turn after whose tool ``ResearchParams.cooldown_s`` is waited."""


@dataclass(frozen=True)
class ResearchParams:
    """Knobs of the research agent; defaults keep one run around a second on a laptop."""

    topic: str = "durable execution for LLM agents"
    turns: int = 4
    tokens_per_turn: int = 200
    """Completion tokens the model writes per call (``max_tokens``)."""
    tool_result_tokens: int = 150
    tool_latency_s: float = 0.2
    model: str = "mock-gpt-4o"
    handle_failed_turns: bool = False
    """When a turn's LLM step fails for good, note it and go on (the output lists it under
    ``failed_turns``) instead of failing the workflow: the path a recovery must take again."""
    cooldown_s: float = 0.0
    """After turn :data:`COOLDOWN_TURN`'s tool (or the last turn's), wait this long
    (``AgentContext.sleep``, durable where the runtime can): an agent backing off a rate limit.
    0: no wait (and not in ``to_json``, so loops without one keep their parameters)."""

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> ResearchParams:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown research_agent parameter(s) {unknown}; valid: {sorted(known)}"
            )
        params = cls(**data)
        if params.turns < 1 or params.tokens_per_turn < 1:
            raise ValueError("research_agent needs turns >= 1 and tokens_per_turn >= 1")
        if params.cooldown_s < 0:
            raise ValueError("research_agent needs cooldown_s >= 0")
        return params

    def to_json(self) -> dict[str, JSON]:
        data: dict[str, JSON] = asdict(self)
        if not self.cooldown_s:
            del data["cooldown_s"]
        return data

    @property
    def cooldown_turn(self) -> int:
        """The turn whose tool the cool-down follows."""
        return min(COOLDOWN_TURN, self.turns)

    @property
    def llm_calls(self) -> int:
        return self.turns + 2


def _ask(ctx: AgentContext, step: int, messages: list[dict[str, Any]], p: ResearchParams,
         tools: bool) -> LlmReply:
    request: dict[str, Any] = {
        "model": p.model,
        "messages": messages,
        "max_tokens": p.tokens_per_turn,
    }
    if tools:
        request["tools"] = [SEARCH_TOOL]
    reply = ctx.llm(step, request)  # type: ignore[arg-type]
    messages.append({"role": "assistant", "content": reply["content"] or ""})
    return reply


def research_agent(ctx: AgentContext, params: Mapping[str, JSON]) -> dict[str, JSON]:
    p = ResearchParams.from_json(params)
    nonces: dict[str, str] = {}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a meticulous research agent."},
        {"role": "user", "content": f"Write a short report on: {p.topic}. Plan first."},
    ]
    nonces["0"] = _ask(ctx, 0, messages, p, tools=False)["nonce"]
    failed: list[int] = []
    for turn in range(1, p.turns + 1):
        try:
            reply = _ask(ctx, turn, messages, p, tools=True)
        except Exception as exc:
            if not p.handle_failed_turns:
                raise
            failed.append(turn)
            messages.append({"role": "user", "content": f"Turn {turn} failed "
                             f"({type(exc).__name__}); go on without it."})  # fmt: skip
            continue
        nonces[str(turn)] = reply["nonce"]
        for call in reply["tool_calls"] or [{"name": "search", "arguments": "{}"}]:
            arguments = json.loads(call["arguments"] or "{}")
            arguments.setdefault("query", f"{p.topic} #{turn}")
            result = ctx.tool(
                turn,
                call["name"],
                arguments,
                latency_s=p.tool_latency_s,
                result_tokens=p.tool_result_tokens,
            )
            messages.append({"role": "user", "content": f"Tool {call['name']} said: {result}"})
        if p.cooldown_s and turn == p.cooldown_turn:
            ctx.sleep(turn, p.cooldown_s)
    write_step = p.turns + 1
    messages.append({"role": "user", "content": "Now write the final report."})
    report = _ask(ctx, write_step, messages, p, tools=False)
    nonces[str(write_step)] = report["nonce"]
    published = ctx.effect(
        write_step + 1, "publish", f"{ctx.workflow_id}:publish", {"report": report["content"]}
    )
    output: dict[str, JSON] = {"report": report["content"], "llm_nonces": nonces,
                               "published": published}  # fmt: skip
    if p.handle_failed_turns:
        output["failed_turns"] = failed
    return output
