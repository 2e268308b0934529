"""durabench's public API: what a user needs to write a SUT, a workload, a fault and a scenario
file in their own repository (``docs/extending.md``). Import from ``harness``, not from its
modules; everything not listed in ``__all__`` is the harness's own machinery and may change.

- a **SUT**: :class:`SystemUnderTest` and the values that cross it (:class:`WorkerSpec`,
  :class:`WorkerCommand`, :class:`ClientContext`, :class:`SutClient`, :class:`Service`, ...),
  registered under the entry point group :data:`ENTRY_POINT_GROUP`;
- a **workload**: a function ``(ctx: AgentContext, params) -> JSON``;
- a **fault**: a frozen dataclass with ``name``, ``kills_worker``, ``inject(target)`` and
  ``heal(target)`` (:class:`Fault`, :class:`FaultTarget`);
- a **scenario file**: a pytest module whose tests take the plugin's fixtures ``trials``
  (a :class:`TrialRunner`), ``durabench_sut`` and ``durabench_seed`` and build
  :class:`TrialSpec` values (:func:`research_trial` for the suite's agent loop).

Names are resolved on first use, so a worker process that imports ``harness.sut...`` does not pay
for the pytest plugin, the checkers or the report.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.env import CapabilityUnavailable, Environment, Links, Worker
    from harness.faults import (
        AckLossFault,
        DbCrashFault,
        DegradeFault,
        EvictFault,
        Fault,
        FaultTarget,
        FaultUnavailable,
        KillFault,
        OomFault,
        PartitionFault,
        PauseFault,
        PoisonFault,
        ProviderErrorsFault,
        ShapesWorkers,
        WorkerSetup,
    )
    from harness.history import (
        PROPERTIES,
        TERMINAL_STATUSES,
        History,
        JSONValue,
        LedgerEntry,
        Outcome,
        Property,
        StepKind,
        StepRecord,
        WorkflowRecord,
    )
    from harness.pytest_plugin import TrialRunner
    from harness.require import skip_or_fail
    from harness.runner import run_trial
    from harness.scenario import (
        FANOUT_PARAMS,
        SUITE_PARAMS,
        fanout_trial,
        fault_firings,
        first_activity_ns,
        known_finding,
        queue_overruns,
        research_trial,
        steps_in_flight,
        steps_reached,
        store_link,
        superseded_writes,
        unprovoked_takeovers,
        worker_deaths,
        xfail_known_unfinished,
    )
    from harness.sut import (
        ALL_PROPERTIES,
        ENTRY_POINT_GROUP,
        ClaimRecords,
        ClientContext,
        DurableSleep,
        QueueLimits,
        RecoversExecutors,
        RecoveryPolicyName,
        ReportsClaims,
        Service,
        ServiceCommand,
        ServiceContext,
        StoreRetry,
        SutClient,
        SutDescription,
        SutLoadError,
        SystemUnderTest,
        WorkerCommand,
        WorkerOptions,
        WorkerSpec,
        get_sut,
        sut_names,
    )
    from harness.trial import (
        FollowUp,
        Recovery,
        RecoveryPolicy,
        TrialResult,
        TrialSpec,
        canonical_params,
    )
    from harness.triggers import (
        CRASH_POINTS,
        Fired,
        ProviderRule,
        Trigger,
        TriggerContext,
        TriggerNeverFired,
        crash_point,
    )
    from harness.workloads import (
        AgentContext,
        ChildSpec,
        DeepResearchParams,
        LlmReply,
        LlmRequest,
        ResearchParams,
        Workload,
        attribution,
        call_llm,
        get_workload,
        post_effect,
        run_tool,
    )

_EXPORTS: dict[str, tuple[str, ...]] = {
    "harness.sut": (
        "ALL_PROPERTIES", "ENTRY_POINT_GROUP", "ClaimRecords", "ClientContext",
        "DurableSleep", "QueueLimits", "RecoversExecutors", "RecoveryPolicyName",
        "ReportsClaims", "Service", "ServiceCommand", "ServiceContext",
        "StoreRetry", "SutClient",
        "SutDescription", "SutLoadError", "SystemUnderTest", "WorkerCommand", "WorkerOptions",
        "WorkerSpec", "get_sut", "sut_names",
    ),
    "harness.workloads": (
        "AgentContext", "ChildSpec", "DeepResearchParams", "LlmReply", "LlmRequest",
        "ResearchParams", "Workload", "attribution", "call_llm", "get_workload", "post_effect",
        "run_tool",
    ),
    "harness.faults": (
        "AckLossFault", "DbCrashFault", "DegradeFault", "EvictFault", "Fault", "FaultTarget",
        "FaultUnavailable", "KillFault", "OomFault", "PartitionFault", "PauseFault",
        "PoisonFault", "ProviderErrorsFault", "ShapesWorkers", "WorkerSetup",
    ),
    "harness.history": (
        "PROPERTIES", "TERMINAL_STATUSES", "History", "JSONValue", "LedgerEntry", "Outcome",
        "Property", "StepKind", "StepRecord", "WorkflowRecord",
    ),
    "harness.env": ("CapabilityUnavailable", "Environment", "Links", "Worker"),
    "harness.trial": (
        "FollowUp", "Recovery", "RecoveryPolicy", "TrialResult", "TrialSpec", "canonical_params",
    ),
    "harness.triggers": (
        "CRASH_POINTS", "Fired", "ProviderRule", "Trigger", "TriggerContext", "TriggerNeverFired",
        "crash_point",
    ),
    "harness.scenario": (
        "FANOUT_PARAMS", "SUITE_PARAMS", "fanout_trial", "first_activity_ns", "research_trial",
        "superseded_writes", "unprovoked_takeovers", "worker_deaths", "store_link",
        "known_finding", "fault_firings", "steps_in_flight", "steps_reached",
        "xfail_known_unfinished", "queue_overruns",
    ),
    "harness.runner": ("run_trial",),
    "harness.pytest_plugin": ("TrialRunner",),
    "harness.require": ("skip_or_fail",),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ALL_PROPERTIES",
    "CRASH_POINTS",
    "ENTRY_POINT_GROUP",
    "FANOUT_PARAMS",
    "PROPERTIES",
    "SUITE_PARAMS",
    "TERMINAL_STATUSES",
    "AckLossFault",
    "AgentContext",
    "CapabilityUnavailable",
    "ChildSpec",
    "ClaimRecords",
    "ClientContext",
    "DbCrashFault",
    "DeepResearchParams",
    "DegradeFault",
    "DurableSleep",
    "Environment",
    "EvictFault",
    "Fault",
    "FaultTarget",
    "FaultUnavailable",
    "Fired",
    "FollowUp",
    "History",
    "JSONValue",
    "KillFault",
    "LedgerEntry",
    "Links",
    "LlmReply",
    "LlmRequest",
    "OomFault",
    "Outcome",
    "PartitionFault",
    "PauseFault",
    "PoisonFault",
    "Property",
    "ProviderErrorsFault",
    "ProviderRule",
    "QueueLimits",
    "RecoversExecutors",
    "Recovery",
    "RecoveryPolicy",
    "RecoveryPolicyName",
    "ReportsClaims",
    "ResearchParams",
    "Service",
    "ServiceCommand",
    "ServiceContext",
    "ShapesWorkers",
    "StepKind",
    "StepRecord",
    "StoreRetry",
    "SutClient",
    "SutDescription",
    "SutLoadError",
    "SystemUnderTest",
    "TrialResult",
    "TrialRunner",
    "TrialSpec",
    "Trigger",
    "TriggerContext",
    "TriggerNeverFired",
    "Worker",
    "WorkerCommand",
    "WorkerOptions",
    "WorkerSetup",
    "WorkerSpec",
    "WorkflowRecord",
    "Workload",
    "attribution",
    "call_llm",
    "canonical_params",
    "crash_point",
    "fanout_trial",
    "fault_firings",
    "first_activity_ns",
    "get_sut",
    "get_workload",
    "known_finding",
    "post_effect",
    "queue_overruns",
    "research_trial",
    "run_tool",
    "run_trial",
    "skip_or_fail",
    "steps_in_flight",
    "steps_reached",
    "store_link",
    "superseded_writes",
    "sut_names",
    "unprovoked_takeovers",
    "worker_deaths",
    "xfail_known_unfinished",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
