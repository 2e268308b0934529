"""``multi_agent``: an orchestrator fans out to sub-agents and merges their answers.

Logical steps of the orchestrator:
    0   plan the split
    1   fan out: ``agents`` child workflows, each a small ``research_agent`` on one sub-topic
    2   merge the children's reports (one LLM call)
    3   publish through the effect sink

Children run as child workflows of the SUT, so a crash of the orchestrator's worker does not
re-run children that already finished (with checkpointing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.workloads._context import JSON, AgentContext, ChildSpec


def multi_agent(ctx: AgentContext, params: Mapping[str, JSON]) -> dict[str, JSON]:
    agents = int(params.get("agents", 3))
    topic = str(params.get("topic", "durable execution for LLM agents"))
    child_params: dict[str, JSON] = {
        "turns": int(params.get("child_turns", 2)),
        "tokens_per_turn": int(params.get("tokens_per_turn", 120)),
        "tool_latency_s": float(params.get("tool_latency_s", 0.05)),
    }
    model = str(params.get("model", "mock-gpt-4o"))
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You orchestrate a team of research agents."},
        {"role": "user", "content": f"Split the topic '{topic}' into {agents} parts."},
    ]
    plan = ctx.llm(0, {"model": model, "messages": messages, "max_tokens": 64})
    children = [
        ChildSpec("research_agent", {**child_params, "topic": f"{topic} / part {i + 1}"})
        for i in range(agents)
    ]
    results = ctx.fan_out(1, children)
    messages.append({"role": "assistant", "content": plan["content"] or ""})
    for i, result in enumerate(results):
        messages.append({"role": "user", "content": f"Agent {i + 1} reported: {result['report']}"})
    merged = ctx.llm(2, {"model": model, "messages": messages, "max_tokens": 160})
    published = ctx.effect(3, "publish", f"{ctx.workflow_id}:publish", merged["content"])
    return {
        "report": merged["content"],
        "llm_nonces": {"0": plan["nonce"], "2": merged["nonce"]},
        "children": [r["llm_nonces"] for r in results],
        "published": published,
    }
