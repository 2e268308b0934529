"""What the ``pydantic-ai+temporal`` SUT tells a reader about itself (``durabench suts``,
reports): how the agent is written, what the framework promises, who recovers what."""

from __future__ import annotations

from collections.abc import Mapping

from harness.sut.temporal.notes import KNOWN_FINDINGS as TEMPORAL_FINDINGS

NOTES: tuple[str, ...] = (
    "written as Pydantic AI's durable-execution docs show: an Agent with the TemporalDurability "
    "capability (OpenAIChatModel on an AsyncOpenAI client pointed at the mock provider's chat "
    "completions), a search tool, a PydanticAIWorkflow registered by PydanticAIPlugin; the "
    "workflow runs the agent twice (a plan, then the research with the plan as history) and "
    "publishes the report through an activity of its own",
    "the workload's shape is the hand-written research_agent's: the search tool is offered on "
    "turns 1..turns only (its prepare function drops it on the plan and the report), so the "
    "model asks for one search per turn; steps are numbered the same (plan 0, turn k k, report "
    "turns+1, publish turns+2). The prompts are Pydantic AI's (instructions, tool-call and "
    "tool-return parts), so token figures differ a little from the hand-written loop's",
    "promises (Pydantic AI docs + Temporal): every model request and every tool call is an "
    "activity, so a completed one replays from the workflow history and is never paid again; "
    "the one in flight at a crash runs again (at least once); the agent's loop itself is "
    "workflow code, replayed deterministically",
    "recovery is Temporal's: the framework adds no supervisor. Pydantic AI heartbeats every "
    "activity in the background; the heartbeat timeout here is the lease (Pydantic AI's own "
    "default for model requests is 30 s, tools none: a killed worker's tool call would then wait "
    "for its start-to-close timeout, 60 s by default)",
    "cost per step: one activity per model request and per tool call, each scheduled, started "
    "and completed in the server's history; the model request's input carries the whole "
    "message history, so the history grows quadratically with the turns",
    "not run: deep_research and multi_agent (the agent is written for research_agent only), "
    "handle_failed_turns and the cool-down (no durable sleep in this agent), queue limits; no "
    "checkpointing-off twin yet (the same agent without TemporalDurability), so the "
    "with/without comparisons skip",
)

KNOWN_FINDINGS: Mapping[str, str] = {
    **{case: "as for the temporal SUT (the recovery is Temporal's, the framework adds none): "
       + finding for case, finding in TEMPORAL_FINDINGS.items()},
    "degrade::slow_reconnect": "Pydantic AI heartbeats an activity at half its heartbeat timeout "
    "(its background heartbeat (`heartbeating`): "
    "every 1 s at the 2 s lease); over the worker->server link slowed to 1.5 s per "
    "answer the first beat reaches the server after the timeout, so every attempt of the call "
    "in flight times out and the workflow fails once its attempts run out ('Activity task timed "
    "out'; the hand-written adapter beats every heartbeat_s, 0.5 s, and rides the slow link "
    "out). Its default heartbeat timeout (30 s for model requests, or none) leaves the margin at "
    "the price of a slower recovery from a dead worker",
}
"""Scenario (or ``scenario::case``) -> a known breach of a promise, with its explanation."""
