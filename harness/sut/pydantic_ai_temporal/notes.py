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
    "activity in the background at half its heartbeat timeout, so the timeout here is the "
    "lease but at least 4 s (TemporalTimeouts.for_half_timeout_beats), giving a beat the "
    "margin the hand-written "
    "adapter's beats every heartbeat_s have (Pydantic AI's own default for model requests is "
    "30 s, tools none: a killed worker's tool call would then wait for its start-to-close "
    "timeout, 60 s by default)",
    "at one lease (2 s) the first cut saw what that costs: over a worker->server link slowed to "
    "1.5 s per answer every attempt of the call in flight timed out until the workflow failed "
    "(degrade::slow_reconnect), and under a full CPU load a healthy worker's attempt timed out "
    "and was run again elsewhere (pause); at 4 s both pass, under load too",
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
}
"""Scenario (or ``scenario::case``) -> a known breach of a promise, with its explanation."""
