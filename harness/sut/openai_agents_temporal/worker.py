"""Worker entry point of the ``openai-agents+temporal`` SUT: ``python -m
harness.sut.openai_agents_temporal.worker --workload research_agent --task-queue Q`` with the
server's address and the provider URL in ``DURABENCH_WORKER_TEMPORAL_ADDRESS`` and
``DURABENCH_WORKER_PROVIDER_URL`` (never in argv).

The research agent as an OpenAI Agents SDK user writes it on Temporal
(``temporalio-openai-agents``): ``Runner.run`` in a workflow, the ``OpenAIAgentsPlugin`` on the
client (its model activity ``invoke_model_activity`` calls the Responses API through the
:func:`~harness.sut.openai_agents_temporal.agent.model_provider`), the ``search`` tool an activity.
The workflow runs the agent twice (a plan, then the research with the plan as input) and
publishes the report through an activity of its own (``publish``).

Steps as in :mod:`harness.workloads.research_agent`: the tool is offered on the research run's
turns only (``is_enabled``), so the model asks for one search per turn and writes the report when
the tool is gone. A model request's logical step = the model turns its input carries.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from agents import Runner
from temporalio import workflow
from temporalio.client import Client
from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

with workflow.unsafe.imports_passed_through():  # not workflow code: the host's modules
    from harness.sut._worker_cli import exit_now
    from harness.sut.openai_agents_temporal import WORKFLOW_TYPE, WORKLOAD
    from harness.sut.openai_agents_temporal import agent as research
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


@workflow.defn(name=WORKFLOW_TYPE)
class ResearchWorkflow:
    """``{"workload": "research_agent", "params": {...}}`` -> the research agent's output."""

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        p = ResearchParams.from_json(request["params"])
        agent = research.research_agent(p)
        context = research.ResearchContext(turns=p.turns)
        plan = await Runner.run(agent, f"Write a short report on: {p.topic}. Plan first.",
                                context=context)  # fmt: skip
        context.researching = True
        ask: Any = {"role": "user", "content": "Research it with the search tool, one search "
                    "per turn; then write the final report."}  # fmt: skip
        items = [*plan.to_input_list(), ask]
        report = await Runner.run(agent, items, context=context, max_turns=p.turns + 2)
        responses = [*plan.raw_responses, *report.raw_responses]
        published = await workflow.execute_activity(
            publish, {"step": p.turns + 2, "key": f"{workflow.info().workflow_id}:publish",
                      "report": str(report.final_output)},
            **activity_options(research.SETTINGS.timeouts),
        )  # fmt: skip
        return {"report": str(report.final_output),
                "llm_nonces": {str(i): (r.response_id or "").removeprefix("resp_")
                               for i, r in enumerate(responses)},
                "published": bool(published)}  # fmt: skip


async def serve(address: str, task_queue: str, grace_s: float) -> None:
    s = research.SETTINGS
    t = s.timeouts
    model = activity_options(t)
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(
            start_to_close_timeout=model["start_to_close_timeout"],
            heartbeat_timeout=model["heartbeat_timeout"], retry_policy=model["retry_policy"]),
        model_provider=research.model_provider())  # fmt: skip
    client = await Client.connect(address, namespace=NAMESPACE, identity=s.executor_id,
                                  plugins=[plugin])  # fmt: skip
    worker = Worker(
        client, task_queue=task_queue, workflows=[ResearchWorkflow],
        activities=[publish, research.search],
        # every module is the host's (as the temporal SUT's worker): no re-import into the
        # sandbox per workflow task, whose CPU starved the heartbeats
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()),
        **worker_options(t, s.executor_id, grace_s),
    )  # fmt: skip
    await run_until_sigterm(worker, s.executor_id)


def main(argv: list[str] | None = None) -> int:
    args, address, provider, timeouts = framework_worker_args(
        "harness.sut.openai_agents_temporal.worker", __doc__, WORKLOAD, "the OpenAI Agents SDK",
        argv)
    research.configure(args.executor_id, provider, timeouts)
    asyncio.run(serve(address, args.task_queue, args.grace))
    exit_now()


if __name__ == "__main__":
    from harness.sut.openai_agents_temporal.worker import main as _main

    sys.exit(_main())
