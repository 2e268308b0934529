"""Worker entry point of the ``pydantic-ai+temporal`` SUT: ``python -m
harness.sut.pydantic_ai_temporal.worker --workload research_agent --task-queue Q`` with the
server's address and the provider URL in ``DURABENCH_WORKER_TEMPORAL_ADDRESS`` and
``DURABENCH_WORKER_PROVIDER_URL`` (never in argv).

The research agent as a Pydantic AI user writes it on Temporal: an ``Agent`` with Pydantic AI's
OpenAI chat model (an ``AsyncOpenAI`` client pointed at the mock provider), a ``search`` tool and
the ``TemporalDurability`` capability, registered on the worker by ``PydanticAIPlugin`` through a
``PydanticAIWorkflow``. Pydantic AI runs its own agent loop: every model request and every tool
call is an activity it schedules (``agent__research__model_request``,
``agent__research__toolset__<id>__call_tool``); the workflow only runs the agent twice (a plan,
then the research with the plan as history) and publishes the report through an activity of its
own (``publish``), as a user's workflow would.

The workload's shape (:mod:`harness.workloads.research_agent`) is kept: the model sees the tool
on turns 1..``turns`` only (the tool's ``prepare`` drops it on the plan and on the report), so the
agent asks for one search per turn and writes the report when the tool is gone. Attribution: the
model client's HTTP hook stamps each request with the activity's workflow id, its epoch (read
from the workflow's history: :func:`harness.sut.temporal._serving.activity_epoch`) and worker,
and its logical step = the number of assistant messages the request carries (the plan is step 0,
turn k step k, the report ``turns + 1``), exactly the hand-written loop's numbering.

Timeouts: the capability's activity config, derived from the trial's lease like the ``temporal``
SUT's (:class:`harness.sut.temporal.TemporalTimeouts`): Pydantic AI heartbeats every activity in
the background at half its heartbeat timeout, which is therefore the lease but at least 4 s
(``for_half_timeout_beats``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from pydantic_ai.durable_exec.temporal import PydanticAIPlugin, PydanticAIWorkflow
from pydantic_ai.messages import ModelResponse
from pydantic_ai.settings import ModelSettings
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

with workflow.unsafe.imports_passed_through():  # not workflow code: the host's modules
    from harness.sut._worker_cli import exit_now
    from harness.sut.pydantic_ai_temporal import WORKFLOW_TYPE, WORKLOAD
    from harness.sut.pydantic_ai_temporal import agent as research
    from harness.sut.temporal import NAMESPACE
    from harness.sut.temporal._serving import (
        activity_options,
        framework_worker_args,
        publish_activity,
        run_until_sigterm,
        worker_options,
    )
    from harness.workloads.research_agent import ResearchParams


publish = publish_activity(research.SETTINGS)


def _nonces(messages: Any) -> dict[str, str]:
    responses = [m for m in messages if isinstance(m, ModelResponse)]
    return {str(i): (r.provider_response_id or "").removeprefix("chatcmpl-")
            for i, r in enumerate(responses)}  # fmt: skip


@workflow.defn(name=WORKFLOW_TYPE)
class ResearchWorkflow(PydanticAIWorkflow):
    """``{"workload": "research_agent", "params": {...}}`` -> the research agent's output."""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        agent = research.AGENT
        assert agent is not None, "the worker builds the agent before it polls"
        p = ResearchParams.from_json(request["params"])
        deps = research.ResearchDeps(p.topic, p.turns, p.tool_latency_s, p.tool_result_tokens)
        settings = ModelSettings(max_tokens=p.tokens_per_turn)
        plan = await agent.run(f"Write a short report on: {p.topic}. Plan first.", deps=deps,
                               model_settings=settings)
        report = await agent.run("Research it with the search tool, one search per turn; then "
                                 "write the final report.", deps=deps,
                                 message_history=plan.all_messages(),
                                 model_settings=settings)
        published = await workflow.execute_activity(
            publish, {"step": p.turns + 2, "key": f"{workflow.info().workflow_id}:publish",
                      "report": report.output},
            **activity_options(research.SETTINGS.timeouts),
        )  # fmt: skip
        return {"report": report.output, "llm_nonces": _nonces(report.all_messages()),
                "published": bool(published)}


async def serve(address: str, task_queue: str, grace_s: float) -> None:
    client = await Client.connect(address, namespace=NAMESPACE,
                                  identity=research.SETTINGS.executor_id,
                                  plugins=[PydanticAIPlugin()])  # fmt: skip
    agent = research.AGENT
    assert agent is not None, "main builds the agent before it serves"
    ResearchWorkflow.__pydantic_ai_agents__ = [agent]
    worker = Worker(
        client, task_queue=task_queue, workflows=[ResearchWorkflow], activities=[publish],
        # every module is the host's (as the temporal SUT's worker): one agent per process, and
        # no re-import into the sandbox per workflow task, whose CPU starved the heartbeats
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()),
        **worker_options(research.SETTINGS.timeouts, research.SETTINGS.executor_id, grace_s),
    )  # fmt: skip
    await run_until_sigterm(worker, research.SETTINGS.executor_id)


def main(argv: list[str] | None = None) -> int:
    args, address, provider, timeouts = framework_worker_args(
        "harness.sut.pydantic_ai_temporal.worker", __doc__, WORKLOAD, "Pydantic AI", argv)
    research.build(args.executor_id, provider, timeouts)
    asyncio.run(serve(address, args.task_queue, args.grace))
    exit_now()


if __name__ == "__main__":
    from harness.sut.pydantic_ai_temporal.worker import main as _main

    sys.exit(_main())
