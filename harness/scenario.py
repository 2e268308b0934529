"""Building blocks of scenario files: the suite's standard agent loop and a trial builder.

A scenario file is a table of cases; each case becomes a :class:`TrialSpec` through
:func:`research_trial` and runs through the ``trials`` fixture of the pytest plugin.
"""

from __future__ import annotations

from typing import cast

from harness.faults import Fault
from harness.history import HarnessEvent, History
from harness.sut import get_sut
from harness.trial import Recovery, RecoveryPolicy, TrialSpec, canonical_params
from harness.triggers import Trigger, crash_point
from harness.workloads import ResearchParams

SUITE_PARAMS = ResearchParams(
    turns=4, tokens_per_turn=200, tool_result_tokens=150, tool_latency_s=0.2
)
"""Six LLM calls, about a second and a half per golden run: long enough to crash at distinct
points, short enough for the whole suite to run in minutes."""


def research_trial(
    scenario: str,
    sut: str,
    fault: Fault,
    crash: str,
    *,
    recovery: str = "restart",
    seed: int = 0,
    trigger: Trigger | None = None,
    crash_step: int | None = None,
    params: ResearchParams = SUITE_PARAMS,
) -> TrialSpec:
    """A ``research_agent`` trial; ``crash`` names a crash point of :func:`crash_point`, or labels
    a custom ``trigger`` (then give ``crash_step``, the logical step it lands in).

    ``recovery="standby"`` asks for a takeover by a second, already running worker; for a SUT
    whose docs give takeovers to a supervisor (DBOS: Conductor) it becomes ``supervised``."""
    recovery = takeover_policy(sut, recovery)
    if trigger is None:
        trigger, crash_step = crash_point(
            crash, calls=params.llm_calls, tool_latency_s=params.tool_latency_s
        )
    return TrialSpec(
        scenario=scenario,
        sut=sut,
        workload="research_agent",
        params_json=canonical_params(params.to_json()),
        fault=fault,
        trigger=trigger,
        trigger_name=crash,
        crash_step=crash_step,
        recovery=Recovery(cast(RecoveryPolicy, recovery)),
        seed=seed,
    )


def takeover_policy(sut: str, recovery: str) -> str:
    """``standby`` for a SUT that takes over natively, else ``supervised`` when it supports it."""
    policies = get_sut(sut).recovery_policies
    if recovery == "standby" and "standby" not in policies and "supervised" in policies:
        return "supervised"
    return recovery


def worker_deaths(history: History) -> tuple[HarnessEvent, ...]:
    """Workers that died during the trial (not those the harness stopped at teardown)."""
    return tuple(e for e in history.events_of("worker_exited")
                 if e.detail.get("stopped_by") == "died")  # fmt: skip
