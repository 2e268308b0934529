"""The ``openai-agents+temporal`` SUT: the research agent written with the OpenAI Agents SDK and
made durable with Temporal's integration for it, ``temporalio-openai-agents``
(``pip install 'durabench[openai-agents]'``).

``Runner.run`` runs in a Temporal workflow (:mod:`harness.sut.openai_agents_temporal.worker`); the
``OpenAIAgentsPlugin`` turns every model call into its ``invoke_model_activity`` activity (the
Responses API, through the Agents SDK's ``OpenAIProvider``), and the ``search`` tool is an activity
(:mod:`harness.sut.openai_agents_temporal.agent`). The server, task queue, timeouts and history
reading are the ``temporal`` SUT's; :func:`openai_agents_step` reads its activities as steps.

Runs the ``research_agent`` workload only; a trial of another workload skips.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.history import Property, StepKind
from harness.sut._protocol import DurableSleep, SutDescription, WorkerOptions
from harness.sut._releases import ReleaseSupport
from harness.sut.temporal import (
    StepReader,
    TemporalSut,
    TemporalTimeouts,
    package_version,
)

WORKFLOW_TYPE = "durabench-openai-agents-research"
WORKLOAD = "research_agent"
INSTALL = "pip install 'durabench[openai-agents]'"
MODEL_ACTIVITY = "invoke_model_activity"


def _model_turns(items: Any) -> int:
    if not isinstance(items, list):
        return 0
    return sum(1 for i in items if isinstance(i, Mapping)
               and (i.get("type") == "function_call" or i.get("role") == "assistant"))  # fmt: skip


def openai_agents_step(name: str, args: Mapping[str, Any],
                       result: Any) -> tuple[StepKind, int | None, str | None]:  # fmt: skip
    """The plugin's model activity is an ``llm`` step (its step = the model turns in its input,
    its nonce the Response id's), ``search`` the ``tool``, ``publish`` the ``effect``."""
    if name == MODEL_ACTIVITY:
        answer = result if isinstance(result, Mapping) else {}
        nonce = str(answer.get("response_id") or "").removeprefix("resp_") or None
        return "llm", _model_turns(args.get("input")), nonce
    if name in ("search", "publish"):
        return ("tool" if name == "search" else "effect"), args.get("step"), None
    return "other", None, None


@dataclass(frozen=True)
class OpenAiAgentsTemporalSut(TemporalSut):
    """The OpenAI Agents SDK's loop on Temporal: every model call and tool call an activity."""

    name: str = "openai-agents+temporal"
    promises: frozenset[Property] = frozenset({
        "terminates", "single_outcome", "no_replay", "output_consistency", "effects_once",
    })  # fmt: skip
    twin: str | None = None
    release_support: ClassVar[ReleaseSupport] = ReleaseSupport(
        ("temporalio-openai-agents", "openai-agents", "temporalio"), ">=1.1.0",
        "the worker imports temporalio.openai_agents, the standalone package's API")
    worker_module: ClassVar[str] = "harness.sut.openai_agents_temporal.worker"
    workflow_type: ClassVar[str] = WORKFLOW_TYPE
    read_step: ClassVar[StepReader] = staticmethod(openai_agents_step)
    workloads: frozenset[str] = frozenset({WORKLOAD})
    """The workloads it runs; a trial of another skips (``TrialRunner.run``)."""
    unsupported_params: frozenset[str] = frozenset({"handle_failed_turns", "cooldown_s"})
    """research_agent parameters the framework's agent does not honour; trials setting them
    skip."""

    def available(self) -> str | None:
        missing = [m for m in ("agents", "temporalio.openai_agents")
                   if importlib.util.find_spec(m.split(".")[0]) is None
                   or (m == "temporalio.openai_agents"
                       and importlib.util.find_spec(m) is None)]  # fmt: skip
        if missing:
            return f"{' and '.join(missing)} not installed; run `{INSTALL}`"
        return super().available()

    def describe(self) -> SutDescription:
        from harness.sut.openai_agents_temporal.notes import KNOWN_FINDINGS, NOTES

        base = super().describe()
        agents = package_version("openai-agents") or "not installed"
        plugin = package_version("temporalio-openai-agents") or "not installed"
        return SutDescription(
            summary=f"OpenAI Agents SDK {agents} on Temporal (temporalio-openai-agents {plugin}, "
                    "dev server): every model call and tool call an activity",
            install=INSTALL,
            notes=(*NOTES, f"timeouts at the default lease ({WorkerOptions().lease_s:g} s): "
                   + TemporalTimeouts.of(WorkerOptions()).for_half_timeout_beats().summary()),
            known_findings=KNOWN_FINDINGS,
            effect_fencing=base.effect_fencing,
            claim_records=base.claim_records,
            store_retry=base.store_retry,
            durable_sleep=DurableSleep(False, "the research agent written with the Agents SDK "
                                       "has no cool-down"),
        )


OPENAI_AGENTS_TEMPORAL_SUT = OpenAiAgentsTemporalSut()
"""What the ``durabench.suts`` entry point ``openai-agents+temporal`` loads."""
