"""The ``pydantic-ai+temporal`` SUT: the research agent written with Pydantic AI and made durable
with its Temporal integration (``pip install 'durabench[pydantic-ai]'``).

The agent (:mod:`harness.sut.pydantic_ai_temporal.agent`) is a Pydantic AI ``Agent`` with the
``TemporalDurability`` capability; the worker (:mod:`harness.sut.pydantic_ai_temporal.worker`) runs
it in a ``PydanticAIWorkflow`` registered through ``PydanticAIPlugin``. Pydantic AI's own agent
loop decides the activities: one per model request, one per tool call. The server, the trial's task
queue, the timeouts derived from the lease and the reading of event histories are the ``temporal``
SUT's (:mod:`harness.sut.temporal`): this SUT differs in what runs inside the workflow, and in how
its activities read as steps (:func:`pydantic_ai_step`).

Runs the ``research_agent`` workload only (:data:`WORKLOADS`); a trial of another workload skips.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.history import Property, StepKind
from harness.sut._protocol import (
    DurableSleep,
    EffectFencing,
    SutDescription,
    WorkerOptions,
)
from harness.sut._releases import ReleaseSupport
from harness.sut.temporal import (
    StepReader,
    TemporalSut,
    TemporalTimeouts,
    package_version,
)

AGENT_NAME = "research"
"""The agent's name: Pydantic AI names its activities after it (``agent__research__...``)."""
WORKFLOW_TYPE = "durabench-pydantic-ai-research"
WORKLOAD = "research_agent"
WORKLOADS: frozenset[str] = frozenset({WORKLOAD})
INSTALL = "pip install 'durabench[pydantic-ai]'"
_MODEL_REQUEST = f"agent__{AGENT_NAME}__model_request"
_CALL_TOOL = "__call_tool"


def _count_responses(messages: Any) -> int:
    return sum(1 for m in messages or () if isinstance(m, Mapping) and m.get("kind") == "response")


def pydantic_ai_step(name: str, args: Mapping[str, Any],
                     result: Any) -> tuple[StepKind, int | None, str | None]:  # fmt: skip
    """Pydantic AI's activities as steps: a model request is an ``llm`` step (its logical step =
    the responses in its messages, its nonce the response's id), a tool call a ``tool`` step (its
    step = the research run's ``run_step``), the workflow's ``publish`` the ``effect``."""
    if name == _MODEL_REQUEST:
        answer = result if isinstance(result, Mapping) else {}
        nonce = str(answer.get("provider_response_id") or "").removeprefix("chatcmpl-") or None
        return "llm", _count_responses(args.get("messages")), nonce
    if name.startswith(f"agent__{AGENT_NAME}__") and name.endswith(_CALL_TOOL):
        context = args.get("serialized_run_context")
        step = context.get("run_step") if isinstance(context, Mapping) else None
        return "tool", int(step) if step is not None else None, None
    if name == "publish":
        return "effect", args.get("step"), None
    return "other", None, None


def missing_modules() -> list[str]:
    return [m for m in ("pydantic_ai", "temporalio") if importlib.util.find_spec(m) is None]


@dataclass(frozen=True)
class PydanticAiTemporalSut(TemporalSut):
    """Pydantic AI's agent loop on Temporal: every model request and tool call an activity."""

    name: str = "pydantic-ai+temporal"
    promises: frozenset[Property] = frozenset({
        "terminates", "single_outcome", "no_replay", "output_consistency", "effects_once",
    })  # fmt: skip
    twin: str | None = None
    release_support: ClassVar[ReleaseSupport] = ReleaseSupport(
        ("pydantic-ai-slim", "openai", "temporalio"), ">=2.78.0",
        "the agent is written with the TemporalDurability capability of Pydantic AI 2.78; older "
        "releases wrap the agent in TemporalAgent instead")
    worker_module: ClassVar[str] = "harness.sut.pydantic_ai_temporal.worker"
    workflow_type: ClassVar[str] = WORKFLOW_TYPE
    read_step: ClassVar[StepReader] = staticmethod(pydantic_ai_step)
    workloads: frozenset[str] = WORKLOADS
    """The workloads it runs; a trial of another skips (``TrialRunner.run``)."""
    unsupported_params: frozenset[str] = frozenset({"handle_failed_turns", "cooldown_s"})
    """research_agent parameters the framework's agent does not honour; trials setting them
    skip."""

    def available(self) -> str | None:
        missing = missing_modules()
        if missing:
            return f"{' and '.join(missing)} not installed; run `{INSTALL}`"
        return super().available()

    def describe(self) -> SutDescription:
        from harness.sut.pydantic_ai_temporal.notes import KNOWN_FINDINGS, NOTES

        base = super().describe()
        version = package_version("pydantic-ai-slim") or "not installed"
        sdk = package_version("temporalio") or "not installed"
        return SutDescription(
            summary=f"Pydantic AI {version} agent on Temporal (TemporalDurability, Python SDK "
                    f"{sdk}, dev server): every model request and tool call an activity",
            install=INSTALL,
            notes=(*NOTES, f"timeouts at the default lease ({WorkerOptions().lease_s:g} s): "
                   + TemporalTimeouts.of(WorkerOptions()).for_half_timeout_beats().summary()),
            known_findings=KNOWN_FINDINGS,
            effect_fencing=EffectFencing(False, base.effect_fencing.how),
            claim_records=base.claim_records,
            store_retry=base.store_retry,
            durable_sleep=DurableSleep(False, "the research agent written with Pydantic AI has "
                                       "no cool-down: the framework's loop sleeps only between "
                                       "background-mode polls"),
        )


PYDANTIC_AI_TEMPORAL_SUT = PydanticAiTemporalSut()
"""What the ``durabench.suts`` entry point ``pydantic-ai+temporal`` loads."""
