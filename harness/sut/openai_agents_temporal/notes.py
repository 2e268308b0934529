"""What the ``openai-agents+temporal`` SUT tells a reader about itself (``durabench suts``,
reports): how the agent is written, what the integration promises, who recovers what."""

from __future__ import annotations

from collections.abc import Mapping

from harness.sut.temporal.notes import KNOWN_FINDINGS as TEMPORAL_FINDINGS

NOTES: tuple[str, ...] = (
    "written as temporalio-openai-agents' README shows: Runner.run in a Temporal workflow, the "
    "OpenAIAgentsPlugin on the client (its invoke_model_activity makes the model from the "
    "Agents SDK's OpenAIProvider on an AsyncOpenAI client pointed at the mock provider's "
    "Responses API), the search tool an activity; the workflow runs the agent twice (a plan, "
    "then the research with the plan as input) and publishes the report through an activity",
    "the workload's shape is the hand-written research_agent's: the search tool is enabled on "
    "the research run's turns only (is_enabled), so the model asks for one search per turn; "
    "steps are numbered the same (plan 0, turn k k, report turns+1, publish turns+2). The "
    "search tool is a FunctionTool of ours that schedules the activity, as activity_as_tool "
    "does, with the turn it answers added to the activity's input (for the tool log)",
    "promises (temporalio-openai-agents docs + Temporal): every model call and every tool call "
    "is an activity, so a completed one replays from the workflow history and is not paid "
    "again; the one in flight at a crash runs again (at least once); the agent loop is "
    "workflow code, replayed deterministically",
    "recovery is Temporal's: the plugin's model activity heartbeats at half its heartbeat "
    "timeout, set here to the lease but at least 4 s (for_half_timeout_beats: the margin the "
    "hand-written adapter's beats every heartbeat_s have; the plugin's default has none: a "
    "killed worker's model call then waits out its 60 s start-to-close timeout)",
    "at one lease (2 s) the first cut saw what that costs: over a worker->server link slowed to "
    "1.5 s per answer every attempt of the call in flight timed out until the workflow failed "
    "(degrade::slow_reconnect), and under a full CPU load a healthy worker's attempt timed out "
    "and was run again elsewhere (pause); at 4 s both pass, under load too",
    "cost per step: one activity per model call and per tool call; each model call's input "
    "carries the whole conversation, so the history grows quadratically with the turns",
    "not run: deep_research and multi_agent, failed-turn handling, the cool-down, queue limits; "
    "no checkpointing-off twin yet (the same agent run with Runner.run outside Temporal), so "
    "the with/without comparisons skip",
)

KNOWN_FINDINGS: Mapping[str, str] = {
    **{case: "as for the temporal SUT (the recovery is Temporal's, the framework adds none): "
       + finding for case, finding in TEMPORAL_FINDINGS.items()},
}
"""Scenario (or ``scenario::case``) -> a known breach of a promise, with its explanation."""
