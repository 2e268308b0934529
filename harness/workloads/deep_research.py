"""``deep_research``: a long research loop -- plan, many tool-using turns over a growing context,
sub-agents partway, a final report, publish. The agent a fifty-minute run is about.

Logical steps of the lead agent (the ``X-Durabench-Step`` of each LLM call), ``L = llm_calls``:

    0           plan
    1 .. L-2    one research turn each: the model asks for a ``search``, the tool runs under the
                same step index and its result joins the conversation. At the fan-out turn
                ``F = fan_out_step`` the model asks to ``delegate`` instead: ``ctx.fan_out(F, ...)``
                runs ``sub_agents`` child workflows and their reports join the conversation.
    L-1         write the final report
    L           publish the report through the effect sink (no LLM call)

So the lead's LLM call ``n`` (1-based, in the order the provider receives them) is logical step
``n - 1``, and a crash while call ``n`` is in flight has ``(n - 1) / L`` of the loop done
(:meth:`DeepResearchParams.done_fraction`).

A sub-agent is the same program with ``role="sub-agent"``: plan, ``sub_agent_calls - 2`` turns,
report; no fan-out, no publish. Its steps are numbered from 0 in its own workflow.

Every prompt carries the whole conversation so far (each turn adds a tool result of
``tool_result_tokens``), so call k costs about k times the first one and redoing the first k steps
costs about k^2/2 calls' worth: what a late crash costs without checkpointing. Time is compressed
(:mod:`harness.workloads._timing`): one measured second stands for ``time_scale`` real ones. The
output names the nonce of every LLM response it used (``llm_nonces``; the sub-agents' under
``sub_agents``), which is what the output-consistency checker reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from harness.llm._prices import DEFAULT_MODEL, check_model
from harness.workloads._context import JSON, AgentContext, ChildSpec, LlmReply, LlmRequest
from harness.workloads._timing import TimeCompression
from harness.workloads.research_agent import SEARCH_TOOL

MAX_LLM_CALLS = 1000

DELEGATE_TOOL = {
    "type": "function",
    "function": {
        "name": "delegate",
        "description": "Hand sub-topics to sub-agents and wait for their reports.",
        "parameters": {"type": "object", "properties": {"parts": {"type": "integer"}}},
    },
}


@dataclass(frozen=True)
class DeepResearchParams:
    """Knobs of the deep-research loop. Defaults: 40 LLM calls standing for ~50 real minutes
    (about 21 measured seconds at ``time_scale`` 150, plus the runtime's own overhead)."""

    topic: str = "durable execution for LLM agents"
    llm_calls: int = 40
    """LLM calls of this agent (the lead's, without its sub-agents'); 4 (a sub-agent 3) ..
    MAX_LLM_CALLS."""
    sub_agents: int = 2
    sub_agent_calls: int = 3
    fan_out_at: float = 0.5
    """Where in the loop the lead delegates, as a fraction of its turns."""
    output_tokens: int = 400
    """Completion tokens per call (``max_tokens``)."""
    report_tokens: int = 1200
    tool_result_tokens: int = 1000
    tokens_per_second_real: float = 50.0
    tool_latency_real_s: float = 70.0
    time_scale: float = 150.0
    model: str = DEFAULT_MODEL
    role: str = "lead"

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> DeepResearchParams:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown deep_research parameter(s) {unknown}; valid: {sorted(known)}")
        params = cls(**data)
        params.check()
        return params

    def check(self) -> None:
        """ValueError naming the first parameter out of range."""
        if self.role not in ("lead", "sub-agent"):
            raise ValueError(f"deep_research role must be 'lead' or 'sub-agent', got {self.role!r}")
        least = 4 if self.role == "lead" else 3
        if not least <= self.llm_calls <= MAX_LLM_CALLS:
            raise ValueError(f"deep_research ({self.role}) needs {least} <= llm_calls <= "
                             f"{MAX_LLM_CALLS}, got {self.llm_calls}")
        if self.sub_agents < 0 or self.sub_agent_calls < 3 or not 0 <= self.fan_out_at <= 1:
            raise ValueError("deep_research needs sub_agents >= 0, sub_agent_calls >= 3 and "
                             "0 <= fan_out_at <= 1")
        if min(self.output_tokens, self.report_tokens, self.tool_result_tokens) < 1:
            raise ValueError("deep_research token counts must be >= 1")
        check_model(self.model)
        self.timing  # noqa: B018  (validates the time compression)

    def to_json(self) -> dict[str, JSON]:
        return asdict(self)

    @property
    def timing(self) -> TimeCompression:
        return TimeCompression(self.tokens_per_second_real, self.tool_latency_real_s,
                               self.time_scale)

    @property
    def fan_out_step(self) -> int | None:
        """The lead's turn that delegates to sub-agents; None without sub-agents."""
        if self.role != "lead" or self.sub_agents == 0:
            return None
        return max(1, min(self.llm_calls - 2, round(self.fan_out_at * (self.llm_calls - 1))))

    @property
    def publish_step(self) -> int:
        return self.llm_calls

    def done_fraction(self, call: int) -> float:
        """The share of the loop completed while the lead's LLM call ``call`` is in flight."""
        if not 1 <= call <= self.llm_calls:
            raise ValueError(f"call must be 1 .. {self.llm_calls}, got {call}")
        return (call - 1) / self.llm_calls

    def crash_calls(self, points: int, first: float = 0.1, last: float = 0.9
                    ) -> list[tuple[int, float]]:
        """``points`` crash points evenly spaced from ``first`` to ``last`` of the loop, as
        (the lead's LLM call to crash in, the share of the loop done then); ValueError when the
        loop is too short to give them distinct calls."""
        if points < 2:
            raise ValueError(f"a crash sweep needs at least 2 points, got {points}")
        wanted = [first + (last - first) * i / (points - 1) for i in range(points)]
        calls = [min(self.llm_calls, round(f * self.llm_calls) + 1) for f in wanted]
        if len(set(calls)) != len(calls):
            raise ValueError(f"{points} crash points need a longer loop than {self.llm_calls} "
                             f"LLM calls (they would share calls {calls})")
        return [(call, self.done_fraction(call)) for call in calls]

    def real_time_estimate_s(self) -> float:
        """Real seconds of the lead's loop (generation and tools; sub-agents counted as their
        own loop once, since they run concurrently)."""
        per_turn = self.output_tokens / self.tokens_per_second_real + self.tool_latency_real_s
        lead = (self.llm_calls - 2) * per_turn + (self.output_tokens + self.report_tokens) \
            / self.tokens_per_second_real
        subs = (self.sub_agent_calls - 2) * per_turn + 2 * self.output_tokens \
            / self.tokens_per_second_real
        return lead + (subs if self.fan_out_step is not None else 0.0)

    def sub_agent_params(self, part: int) -> dict[str, JSON]:
        return {**self.to_json(), "topic": f"{self.topic} / part {part}", "role": "sub-agent",
                "llm_calls": self.sub_agent_calls, "sub_agents": 0,
                "report_tokens": self.output_tokens}


class _Conversation:
    """The growing message list of one agent and the nonces of the replies it was built from."""

    def __init__(self, ctx: AgentContext, p: DeepResearchParams) -> None:
        self.ctx, self.p = ctx, p
        self.nonces: dict[str, str] = {}
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are a meticulous deep-research agent. Search, "
                                          "read, delegate when the topic splits, then report."},
            {"role": "user", "content": f"Research and report on: {p.topic}. Plan first."},
        ]

    def ask(self, step: int, *, tools: list[dict[str, Any]] | None = None,
            max_tokens: int | None = None) -> LlmReply:
        request: LlmRequest = {
            "model": self.p.model, "messages": list(self.messages),
            "max_tokens": max_tokens or self.p.output_tokens,
            "tokens_per_second": self.p.timing.tokens_per_second,
        }
        if tools:
            request["tools"] = tools
        reply = self.ctx.llm(step, request)
        self.nonces[str(step)] = reply["nonce"]
        message: dict[str, Any] = {"role": "assistant", "content": reply["content"] or ""}
        if reply["tool_calls"]:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in reply["tool_calls"]
            ]
        self.messages.append(message)
        return reply

    def answer(self, call_id: str, content: str) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": content})


def _search(conv: _Conversation, step: int, reply: LlmReply) -> None:
    p = conv.p
    calls = reply["tool_calls"] or [{"id": f"search-{step}", "name": "search", "arguments": "{}"}]
    for call in calls:
        arguments = json.loads(call["arguments"] or "{}")
        arguments.setdefault("query", f"{p.topic} #{step}")
        result = conv.ctx.tool(step, "search", arguments, latency_s=p.timing.tool_latency_s,
                               result_tokens=p.tool_result_tokens)
        conv.answer(call["id"], f"search results: {result}")


def _delegate(conv: _Conversation, step: int, reply: LlmReply) -> list[JSON]:
    p = conv.p
    children = [ChildSpec("deep_research", p.sub_agent_params(i + 1)) for i in range(p.sub_agents)]
    results = conv.ctx.fan_out(step, children)
    call_id = reply["tool_calls"][0]["id"] if reply["tool_calls"] else f"delegate-{step}"
    reports = "\n".join(f"sub-agent {i + 1}: {r['report']}" for i, r in enumerate(results))
    conv.answer(call_id, reports)
    return [r["llm_nonces"] for r in results]


def deep_research(ctx: AgentContext, params: Mapping[str, JSON]) -> dict[str, JSON]:
    p = DeepResearchParams.from_json(params)
    conv = _Conversation(ctx, p)
    conv.ask(0)
    sub_agents: list[JSON] = []
    for step in range(1, p.llm_calls - 1):
        if step == p.fan_out_step:
            sub_agents = _delegate(conv, step, conv.ask(step, tools=[DELEGATE_TOOL]))
        else:
            _search(conv, step, conv.ask(step, tools=[SEARCH_TOOL]))
    conv.messages.append({"role": "user", "content": "Now write the final report."})
    report = conv.ask(p.llm_calls - 1, max_tokens=p.report_tokens)
    output: dict[str, JSON] = {"report": report["content"], "llm_nonces": conv.nonces,
                               "role": p.role}
    if p.role == "lead":
        output["sub_agents"] = sub_agents
        output["published"] = ctx.effect(p.publish_step, "publish", f"{ctx.workflow_id}:publish",
                                         {"report": report["content"]})
    return output
