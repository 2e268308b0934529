"""A trial: one run of (SUT, workload, fault, trigger, recovery policy, seed), and its result.

A trial may carry follow-up faults (:class:`FollowUp`, ``TrialSpec.then``): each fires on an
anchor of the fault before it (its injection, its heal, or the workflow's claim by a new owner).

:class:`TrialSpec` names the trial; :func:`harness.runner.run_trial` runs it and returns a
:class:`TrialResult` (history, figures, judgement). ``TrialResult.record()`` is the
:class:`harness.results.ResultRecord` appended to the results store (``to_json()`` is its JSON),
which ``durabench report`` and ``durabench gate`` read back through the same type.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Literal

from harness.checkers import Judgement
from harness.faults import Fault
from harness.figures import Figures
from harness.history import History, JSONValue, to_json
from harness.results import RESULT_SCHEMA, ResultRecord
from harness.sut import WorkerOptions
from harness.triggers import ProviderRule, Trigger

__all__ = [
    "ANCHORS",
    "RECOVERY_POLICIES",
    "RESULT_SCHEMA",
    "Anchor",
    "FollowUp",
    "Recovery",
    "RecoveryPolicy",
    "TrialResult",
    "TrialSpec",
    "canonical_params",
    "versions",
]

RecoveryPolicy = Literal["restart", "delayed", "standby", "supervised", "rolling"]
RECOVERY_POLICIES: tuple[RecoveryPolicy, ...] = (
    "restart", "delayed", "standby", "supervised", "rolling",
)

DEFAULT_DETECTION_DELAY_S = 2.0
"""How long the ``supervised`` policy's supervisor takes to declare a dead worker dead: the
suite's lease (2 s), so takeovers are comparable across SUTs. DBOS Conductor's default is 60 s."""


@dataclass(frozen=True)
class Recovery:
    """What replaces a worker the fault took down.

    - ``restart``: a replacement with the same executor id starts at once (a pod restart); it
      recovers the workflows it owned without waiting for their leases.
    - ``delayed``: the same after ``delay_s`` (pod rescheduling).
    - ``standby``: ``standbys`` more workers are running from the start; they take over once the
      owner's Postgres session ends or its lease expires (with several, their claims race).
    - ``supervised``: ``standbys`` more workers are running from the start, and the harness plays
      the supervisor the SUT's docs call for (e.g. DBOS Conductor): ``detection_delay_s`` after it
      sees a worker die, it asks the SUT's client to hand the dead executor's workflows to a live
      one (:class:`harness.sut.RecoversExecutors`). Reports state the delay.
    - ``rolling``: a rolling restart. The replacement, with the *same* executor id, is started
      and ready before the fault lands, so the old process and the new one run side by side
      while the old one drains (SIGTERM's grace period) or dies; nothing more starts when the
      old one exits. A new process must not take over what its predecessor is still running.

    ``handovers`` (supervised only): how many live executors the supervisor asks at once to
    recover the same dead one -- two supervisors, or a supervisor beside another's retry, each
    asking its own executor: the same dead executor recovered concurrently. At most
    ``standbys``.

    ``own_links`` (standby/supervised only): the standbys reach Postgres and the provider through
    links of their own, as a standby on another host would: a network fault on the victim's links
    (``FaultTarget.links``) leaves the others connected, and the harness can hold the others'
    traffic (``FaultTarget.peer_links``) apart from the victim's. By default every worker shares
    one pair.
    """

    policy: RecoveryPolicy = "restart"
    delay_s: float = 0.0
    detection_delay_s: float = DEFAULT_DETECTION_DELAY_S
    standbys: int = 1
    own_links: bool = False
    handovers: int = 1

    def __post_init__(self) -> None:
        if self.policy not in RECOVERY_POLICIES:
            raise ValueError(
                f"unknown recovery policy {self.policy!r}; valid: {', '.join(RECOVERY_POLICIES)}"
            )
        if self.delay_s < 0 or self.detection_delay_s < 0:
            raise ValueError("Recovery delays must be >= 0 seconds")
        if self.standbys < 1:
            raise ValueError(f"standbys must be at least 1, got {self.standbys}")
        if self.own_links and self.policy not in ("standby", "supervised"):
            raise ValueError(f"own_links needs standbys (policy standby or supervised), not "
                             f"{self.policy!r}")
        if self.handovers < 1:
            raise ValueError(f"handovers must be at least 1, got {self.handovers}")
        if self.handovers > 1 and self.policy != "supervised":
            raise ValueError(f"handovers are the supervisor's: {self.handovers} need policy "
                             f"supervised, not {self.policy!r}")
        if self.handovers > self.standbys:
            raise ValueError(f"{self.handovers} concurrent hand-overs need as many live "
                             f"executors to ask: standbys={self.standbys}")

    @property
    def label(self) -> str:
        """The policy's name in trial ids: ``standby3`` for three standbys, ``standby_ownlinks``
        when they have links of their own, ``supervised2_handovers2`` for two concurrent
        hand-overs."""
        label = f"{self.policy}{self.standbys}" if self.standbys > 1 else self.policy
        if self.handovers > 1:
            label += f"_handovers{self.handovers}"
        return f"{label}_ownlinks" if self.own_links else label


def options_label(options: WorkerOptions) -> str:
    """``""`` for the default worker options, else the ones changed: ``opt-lease20_heartbeat1``."""
    default = WorkerOptions()
    changed = [f"{f.name.removesuffix('_s')}{getattr(options, f.name):g}"
               for f in dataclasses.fields(options)
               if getattr(options, f.name) != getattr(default, f.name)]  # fmt: skip
    return "opt-" + "_".join(changed) if changed else ""


def _label_value(value: object) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9.]+", "", text.lower())


def fault_label(fault: Fault | None) -> str:
    """``""`` when every parameter of ``fault`` is its class's default, else the ones changed:
    ``fault-linkprovider_modetimeout``. Two cases of one scenario at one crash point that differ
    only in their fault (a link cut ``down`` or black-holed) are two trials, with two ids."""
    if fault is None or not dataclasses.is_dataclass(fault):
        return ""
    changed = []
    for f in dataclasses.fields(fault):
        if f.name in ("name", "kills_worker"):
            continue
        if f.default is not dataclasses.MISSING:
            default: object = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        value = getattr(fault, f.name)
        if value != default:
            changed.append(f"{f.name.removesuffix('_s')}{_label_value(value)}")
    return "fault-" + "_".join(changed) if changed else ""


Anchor = Literal["injected", "healed", "claimed", "called", "statement"]
ANCHORS: tuple[Anchor, ...] = ("injected", "healed", "claimed", "called", "statement")


@dataclass(frozen=True)
class FollowUp:
    """A further fault of the same trial, fired ``delay_s`` after ``when`` of the fault before it:

    - ``injected``: that fault's ``inject()`` returned; the two overlap (the earlier one heals
      after this one healed);
    - ``healed``: that fault was healed;
    - ``claimed``: a new owner claimed the workflow, i.e. its record's epoch grew past the one
      read as that fault fired (the SUT must declare ``SutDescription.claim_records`` visible);
    - ``called``: the workflow's next LLM request reached the provider after that fault fired
      (a recovery re-making or resuming its step: evidence any SUT gives, records or not);
    - ``statement``: a statement matching ``pattern`` (a regular expression, ``re.search``) reached
      the trial's Postgres after that fault fired (read from the server's statement log,
      :mod:`harness.env.statements`; the local environment's embedded Postgres only): e.g. the
      replacement's first claim, for "Postgres restarts as recovery begins".

    With ``overlap``, the anchor is awaited while the fault before it is still in place, which
    heals only after this one healed (``injected`` always overlaps): a slow link that stays slow
    until Postgres, crashed the moment a recovery first writes, is back.

    The victim is the worker that owns the workflow when it fires: for ``claimed``, the new owner;
    for ``called``, the worker whose execution made the request (its ``X-Durabench-Executor``);
    for ``statement`` with ``on_sender``, the worker that sent the statement.
    """

    fault: Fault
    when: Anchor = "healed"
    delay_s: float = 0.0
    pattern: str | None = None
    """``statement`` only: what the statement's text must match."""
    overlap: bool = False
    """Await the anchor before the fault before it heals (class docstring)."""
    on_sender: bool = False
    """``statement`` only: the victim is the worker whose session sent the statement (told by
    its ``application_name``, :func:`harness.env.statements.sent_by`), not the owner: e.g. the
    live executor that just read which workflows to recover."""

    def __post_init__(self) -> None:
        if self.when not in ANCHORS:
            raise ValueError(f"unknown follow-up anchor {self.when!r}; valid: {', '.join(ANCHORS)}")
        if self.delay_s < 0:
            raise ValueError(f"a follow-up's delay_s must be >= 0 seconds, got {self.delay_s}")
        if self.overlap and self.when == "healed":
            raise ValueError("a follow-up cannot overlap a fault and wait for its heal: "
                             "anchor it on 'injected' to fire while that fault is in place")
        if self.on_sender and self.when != "statement":
            raise ValueError("only a follow-up anchored on a statement has a sender to fault "
                             "(on_sender=True needs when='statement')")
        if (self.when == "statement") != (self.pattern is not None):
            raise ValueError("a follow-up anchored on a statement needs pattern= (a regular "
                             "expression), and only such a follow-up takes one")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"follow-up pattern {self.pattern!r} is not a regular "
                                 f"expression: {exc}") from exc

    @property
    def overlaps(self) -> bool:
        """Whether this fires while the fault before it is still in place."""
        return self.overlap or self.when == "injected"

    @property
    def label(self) -> str:
        """``kill-claimed`` (``-2s`` with a delay, then the fault's changed parameters; a
        statement anchor carries a hash of its pattern: ``db_crash-statement~1a2b3c``)."""
        when: str = self.when
        if self.pattern is not None:  # two patterns are two trials
            when += "~" + hashlib.sha256(self.pattern.encode()).hexdigest()[:6]
        if self.overlap and self.when != "injected":
            when += "+overlap"
        if self.on_sender:
            when += "+sender"
        parts = [self.fault.name, when, f"{self.delay_s:g}s" if self.delay_s else "",
                 fault_label(self.fault)]
        return "-".join(p for p in parts if p)

    def to_json(self) -> dict[str, JSONValue]:
        spec: dict[str, JSONValue] = {"fault": self.fault.name,
                                      "fault_params": _fault_params(self.fault),
                                      "when": self.when, "delay_s": self.delay_s}
        if self.pattern is not None:
            spec["pattern"] = self.pattern
        if self.overlap and self.when != "injected":
            spec["overlap"] = True
        if self.on_sender:
            spec["on_sender"] = True
        return spec


def followups_label(then: tuple[FollowUp, ...]) -> str:
    """``""`` without follow-ups (so a trial id without them is what it always was), else
    ``then-kill-claimed`` (``_``-joined for several: ``then-kill-claimed_partition-healed``)."""
    return "then-" + "_".join(f.label for f in then) if then else ""


@dataclass(frozen=True)
class TrialSpec:
    scenario: str
    sut: str
    workload: str = "research_agent"
    params_json: str = "{}"
    """Workload parameters as canonical JSON (hashable, so specs can key the golden cache)."""
    fault: Fault | None = None
    """The fault with its parameters (a frozen dataclass); None for a golden run."""
    trigger: Trigger | None = None
    trigger_name: str = ""
    crash_step: int | None = None
    crash_fraction: float | None = None
    """The share of the loop completed when the fault fires (crash sweeps); None elsewhere."""
    recovery: Recovery = field(default_factory=Recovery)
    seed: int = 0
    timeout_s: float = 60.0
    terminate_bound_s: float = 30.0
    options: WorkerOptions = field(default_factory=WorkerOptions)
    setup_rules: tuple[ProviderRule, ...] = ()
    """Provider rules of the trial's world, installed before the workflow starts (golden run
    included) and retired when the trigger fires."""
    then: tuple[FollowUp, ...] = ()
    """Follow-up faults after ``fault``, in order, each anchored on the one before it."""
    bystander: bool = False
    """Once the workflow is terminal, start a second root workflow of the same workload and
    parameters (no fault aims at it) and wait for it: the runtime still serves others after
    whatever became of the first. Its id is the first's with ``-bystander``."""
    behind: bool = False
    """With ``bystander``: start the bystander right after the workflow, before any fault, not
    once the workflow is terminal. On a queue with a concurrency limit
    (:attr:`WorkerOptions.queue_concurrency`) it then waits behind the workflow the faults hit,
    and runs only once the runtime frees that workflow's place."""

    def __post_init__(self) -> None:
        if self.behind and not self.bystander:
            raise ValueError("behind=True places the bystander: it needs bystander=True")

    @property
    def params(self) -> dict[str, JSONValue]:
        return dict(json.loads(self.params_json))

    @property
    def faults(self) -> tuple[Fault, ...]:
        """Every fault of the trial in the order they fire: ``fault``, then the follow-ups'."""
        first = () if self.fault is None else (self.fault,)
        return (*first, *(f.fault for f in self.then))

    @property
    def trial_id(self) -> str:
        """Scenario, SUT, crash point, recovery, worker options other than the defaults (one
        scenario may run the same point with a longer lease, e.g. evict against kill), fault
        parameters other than the defaults (:func:`fault_label`), follow-ups when there are any
        (:func:`followups_label`), seed."""
        parts = [self.scenario, self.sut, self.trigger_name or "golden", self.recovery.label,
                 options_label(self.options), fault_label(self.fault), followups_label(self.then),
                 ("bystander-behind" if self.behind else "bystander") if self.bystander else ""]
        return "-".join(p for p in parts if p) + f"-s{self.seed}"

    def golden(self) -> TrialSpec:
        """The same trial without the fault."""
        return TrialSpec(
            scenario="golden",
            sut=self.sut,
            workload=self.workload,
            params_json=self.params_json,
            fault=None,
            seed=self.seed,
            timeout_s=self.timeout_s,
            # No fault to recover from: a golden run terminates when it ends within its timeout
            # (a long loop runs longer than the faulted trials' bound after their heal).
            terminate_bound_s=self.timeout_s,
            options=self.options,
            setup_rules=self.setup_rules,
            bystander=self.bystander,
            behind=self.behind,
        )

    @property
    def golden_key(self) -> tuple[str | int, ...]:
        key: tuple[str | int, ...] = (self.sut, self.workload, self.params_json, self.seed)
        if self.setup_rules:
            key += (json.dumps([r.to_json() for r in self.setup_rules], sort_keys=True),)
        if self.bystander:  # its golden run has the bystander too: two workflows' tokens
            key += ("bystander-behind" if self.behind else "bystander",)
        return key


def canonical_params(params: Mapping[str, JSONValue]) -> str:
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class TrialResult:
    spec: TrialSpec
    env: str
    run_id: str
    history: History
    figures: Figures
    judgement: Judgement
    golden_tokens_billed: int | None
    golden_duration_s: float | None
    started_at: str
    wall_s: float
    postgres_version: str = ""
    promised: frozenset[str] = frozenset()
    twin: str | None = None
    """The SUT's checkpointing-off twin (``SystemUnderTest.twin``); the report pairs by it."""
    toxiproxy: str = ""
    """Which Toxiproxy served the trial's links (filled by the environment; "" unknown)."""
    sut_version: str = ""
    """The release of the SUT's runtime that ran (``harness.sut.sut_versions``)."""
    sut_packages: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Every package of that runtime -> its version (into ``versions``)."""

    @property
    def valid(self) -> str:
        return self.judgement.valid

    def record(self) -> ResultRecord:
        """The results line of this trial."""
        spec, fig = self.spec, self.figures
        return ResultRecord(
            kind="trial" if spec.fault is not None else "golden",
            run_id=self.run_id, trial_id=spec.trial_id, scenario=spec.scenario, sut=spec.sut,
            twin=self.twin, sut_version=self.sut_version,
            checkpointing=self.history.checkpointing, workload=spec.workload,
            workload_params=spec.params, fault=spec.fault.name if spec.fault else None,
            fault_params=_fault_params(spec.fault),
            followups=tuple(f.to_json() for f in spec.then), trigger=spec.trigger_name,
            trigger_spec=spec.trigger.to_json() if spec.trigger else None,
            setup_rules=tuple(r.to_json() for r in spec.setup_rules),
            recovery=spec.recovery.policy, seed=spec.seed, env=self.env,
            detection_delay_s=(spec.recovery.detection_delay_s
                               if spec.recovery.policy == "supervised" else None),
            toxiproxy=self.toxiproxy, crash_step=spec.crash_step,
            crash_fraction=spec.crash_fraction,
            tokens_billed=fig.tokens_billed, golden_tokens_billed=self.golden_tokens_billed,
            redundant_tokens=fig.redundant_tokens, redundant_calls=fig.redundant_calls,
            cost_usd=fig.cost_usd, redundant_cost_usd=fig.redundant_cost_usd,
            fault_at_ns=fig.fault_at_ns, frontier=fig.frontier,
            time_to_resume_s=fig.time_to_resume_s, time_to_recover_s=fig.time_to_recover_s,
            completion_delay_s=fig.completion_delay_s, duration_s=fig.duration_s,
            golden_duration_s=self.golden_duration_s, tool_executions=fig.tool_executions,
            redundant_tool_calls=fig.redundant_tool_calls,
            verdicts=self.judgement.as_json(), valid=self.judgement.valid,
            verdict_summary=self.judgement.summary(), promised=tuple(sorted(self.promised)),
            history=to_json(self.history),
            versions={**versions(self.postgres_version), **self.sut_packages},
            host=socket.gethostname(), started_at=self.started_at, wall_s=round(self.wall_s, 3),
        )

    def to_json(self) -> dict[str, JSONValue]:
        """The results line as JSON (``record().to_json()``)."""
        return self.record().to_json()


def _fault_params(fault: Fault | None) -> dict[str, JSONValue]:
    if fault is None or not dataclasses.is_dataclass(fault):
        return {}
    params = dataclasses.asdict(fault)
    for key in ("name", "kills_worker"):
        params.pop(key, None)
    return params


@cache
def _durabench_version() -> str:
    try:
        return metadata.version("durabench")
    except metadata.PackageNotFoundError:
        return "unknown"


def versions(postgres_version: str) -> dict[str, str]:
    return {
        "durabench": _durabench_version(),
        "python": platform.python_version(),
        "postgres": postgres_version,
    }
