"""Building blocks of scenario files: the suite's standard agent loops, trial builders, and the
history queries scenarios assert on.

A scenario file is a table of cases; each case becomes a :class:`TrialSpec` through
:func:`research_trial` (or :func:`fanout_trial`) and runs through the ``trials`` fixture of the
pytest plugin. Each scenario module carries ``pytestmark = pytest.mark.xdist_group(<module>)``
so that under ``pytest -n N --dist loadgroup`` all its trials run in one process and share its
trial cache: a comparison test reuses the trials of the tests beside it instead of running them
again on another worker (and recording them twice).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import cast

from harness.faults import Fault
from harness.history import HarnessEvent, History
from harness.sut import WorkerOptions, get_sut
from harness.trial import (
    FollowUp,
    Recovery,
    RecoveryPolicy,
    TrialResult,
    TrialSpec,
    canonical_params,
)
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
    standbys: int = 1,
    options: WorkerOptions | None = None,
    own_links: bool = False,
    then: tuple[FollowUp, ...] = (),
    handovers: int = 1,
) -> TrialSpec:
    """A ``research_agent`` trial; ``crash`` names a crash point of :func:`crash_point`, or labels
    a custom ``trigger`` (then give ``crash_step``, the logical step it lands in). ``options``
    (a longer lease, ...) apply to the golden run too.

    ``recovery="standby"`` asks for a takeover by a second, already running worker; for a SUT
    whose docs give takeovers to a supervisor (DBOS: Conductor) it becomes ``supervised``;
    ``own_links`` gives the standbys links of their own (:class:`harness.trial.Recovery`);
    ``then``: follow-up faults after ``fault`` (:class:`harness.trial.FollowUp`);
    ``handovers``: concurrent hand-overs of the supervised policy."""
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
        recovery=Recovery(cast(RecoveryPolicy, recovery), standbys=standbys,
                          own_links=own_links, handovers=handovers),
        seed=seed,
        options=options or WorkerOptions(),
        then=then,
    )


FANOUT_PARAMS: dict[str, object] = {"agents": 3, "child_turns": 2, "tokens_per_turn": 120,
                                    "tool_latency_s": 0.05}  # fmt: skip
"""The ``multi_agent`` orchestrator with three small research sub-agents (child workflows)."""


def fanout_trial(scenario: str, sut: str, fault: Fault, trigger: Trigger, trigger_name: str, *,
                 crash_step: int, recovery: str = "restart", seed: int = 0) -> TrialSpec:
    """A ``multi_agent`` trial (:data:`FANOUT_PARAMS`)."""
    return TrialSpec(
        scenario=scenario,
        sut=sut,
        workload="multi_agent",
        params_json=canonical_params(FANOUT_PARAMS),
        fault=fault,
        trigger=trigger,
        trigger_name=trigger_name,
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


def store_link(sut: str) -> str:
    """The link between a SUT's workers and its durable store: ``postgres``, or the SUT's own
    service that ``durable_store`` names (links are named like the stores they lead to). Network
    faults aimed at "the store" use it, so they hit what the SUT's workers really write to."""
    return get_sut(sut).durable_store


def known_finding(sut: str, scenario: str, case: str | None = None) -> str | None:
    """The SUT's own explanation of a known finding in ``scenario`` (``scenario::case`` first,
    then ``scenario``; :attr:`SutDescription.known_findings`), None when it lists none. A
    scenario shows such a finding as an xfail with this text, never as a pass."""
    findings = get_sut(sut).describe().known_findings
    if case is not None and f"{scenario}::{case}" in findings:
        return findings[f"{scenario}::{case}"]
    return findings.get(scenario)


def xfail_known_unfinished(result: TrialResult, sut: str, finding: str) -> None:
    """Mark the running test an expected failure: ``result`` shows ``sut``'s known ``finding``
    of a workflow left unfinished. Asserts first that the trial broke exactly that --
    ``terminates`` false, and nothing else false (what needs a finished workflow is unknown)."""
    import pytest  # lazily: only scenarios call this

    broken = {p: v.valid for p, v in result.judgement.verdicts.items()
              if p in result.judgement.promised and v.valid != "true"}
    assert broken.get("terminates") == "false" and "false" not in (
        v for p, v in broken.items() if p != "terminates"), (
        f"{sut}'s known finding leaves a workflow unfinished (terminates false; what needs a "
        f"finished workflow unknown) and breaks nothing else; this trial broke {broken}:\n"
        f"{result.judgement.summary()}")
    pytest.xfail(f"known finding of {sut}: {finding}")


def worker_deaths(history: History) -> tuple[HarnessEvent, ...]:
    """Workers that died during the trial (not those the harness stopped at teardown)."""
    return tuple(e for e in history.events_of("worker_exited")
                 if e.detail.get("stopped_by") == "died")  # fmt: skip


def first_activity_ns(history: History, workflow_id: str) -> dict[int, int]:
    """Epoch -> when that execution of ``workflow_id`` first did anything the harness saw (an LLM
    request, a step record, an effect): the superseding claim happened before it."""
    first: dict[int, int] = {}
    stamps = [(e.attempt, e.received_ns) for e in history.ledger if e.workflow_id == workflow_id]
    stamps += [(r.epoch, r.recorded_ns) for r in history.steps if r.workflow_id == workflow_id]
    stamps += [(f.attempt, f.received_ns) for f in history.effects
               if f.workflow_id == workflow_id]  # fmt: skip
    for epoch, at in stamps:
        if epoch is not None and (epoch not in first or at < first[epoch]):
            first[epoch] = at
    return first


def queue_overruns(history: History, limit: int, *, per_executor: bool) -> list[str]:
    """Moments when more than ``limit`` of the trial's root workflows were running at once,
    across every worker or (``per_executor``) within one executor id: a queue's concurrency
    limit overrun. An execution of a workflow (its ``attempt``) runs, for this reading, from its
    first LLM request to its last LLM answer delivered as the provider saw them (an answer
    never delivered ends it at its request: the execution died or gave up waiting), so an
    overrun found here is one the provider saw, never one a clock guessed; a workflow waiting
    between a dead execution and the next runs nowhere. One line per breach."""
    roots = set(history.workflow_ids)
    spans: dict[tuple[str, str, int | None], list[int]] = {}
    for e in history.ledger:
        if e.workflow_id not in roots:
            continue
        group = (e.executor or "?") if per_executor else "every worker"
        end = e.responded_ns if e.delivered and e.responded_ns else e.received_ns
        span = spans.setdefault((group, e.workflow_id, e.attempt), [e.received_ns, end])
        span[0] = min(span[0], e.received_ns)
        span[1] = max(span[1], end)
    breaches: list[str] = []
    for group in sorted({g for g, _, _ in spans}):
        mine = sorted((span[0], span[1], wf) for (g, wf, _), span in spans.items() if g == group)
        for start, _, wf in mine:
            running = {w for s_, e_, w in mine if s_ <= start < e_} | {wf}
            if len(running) > limit:
                breaches.append(f"{group}: {len(running)} workflows running at once (limit "
                                f"{limit}) when {wf} began: {', '.join(sorted(running))}")
    return breaches


def superseded_writes(history: History) -> list[str]:
    """Writes of a superseded execution that took effect after it was superseded (a scenario's
    reading of single_active_execution, docs/architecture.md): a step record, an applied effect
    or the outcome (when the SUT records its writer, ``outcome_epoch``) of epoch ``a`` made after
    an execution of epoch ``b > a`` of the same workflow had already shown activity, or an
    outcome written by an epoch older than the record's own. Read from the history only; one
    line per breach."""
    breaches: list[str] = []
    for wf in {w.workflow_id for w in history.workflows} | set(history.workflow_ids):
        first = first_activity_ns(history, wf)
        writes = [(r.epoch, r.recorded_ns, f"step record seq={r.seq} {r.name}")
                  for r in history.steps if r.workflow_id == wf]
        writes += [(f.attempt, f.received_ns, f"effect {f.name}") for f in history.effects
                   if f.workflow_id == wf and f.applied and f.attempt is not None]
        for w in history.workflows:
            if w.workflow_id != wf or w.outcome_epoch is None or w.status == "PENDING":
                continue
            writes.append((w.outcome_epoch, w.updated_ns, f"{w.status} outcome"))
            if w.outcome_epoch < w.epoch:  # the record itself says a newer execution claimed it
                breaches.append(f"{wf}: the {w.status} outcome was written by epoch "
                                f"{w.outcome_epoch} after epoch {w.epoch} had claimed the workflow")
        for epoch, at, what in writes:
            newer = [e for e, t in first.items() if e > epoch and t < at]
            if newer:
                breaches.append(f"{wf}: {what} of epoch {epoch} landed after epoch "
                                f"{min(newer)} took over")
    return breaches


def unprovoked_takeovers(history: History) -> list[str]:
    """Takeovers from an executor the fault never touched: per workflow, an epoch whose first
    activity superseded a healthy execution -- the executor of the older epoch's last activity
    before it, which neither died nor was the fault's target, nor ran the newer epoch itself.
    A claim that supersedes a healthy worker is a claim race lost, not a recovery. Only the
    execution running at the takeover is superseded: on a runtime without workflow owners
    (Temporal: any polling worker runs the next activity) other workers may have run and
    finished earlier steps of the older epoch."""
    faulted = {e.executor for e in history.events_of("fault_fired")}
    faulted |= {e.executor for e in history.events_of("worker_exited")
                if e.detail.get("stopped_by") == "died"}  # fmt: skip
    found: list[str] = []
    for wf in {w.workflow_id for w in history.workflows} | set(history.workflow_ids):
        acts: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for e in history.ledger:
            if e.workflow_id == wf and e.attempt is not None and e.executor:
                acts[e.attempt].append((e.received_ns, e.executor))
        for r in history.steps:
            if r.workflow_id == wf:
                acts[r.epoch].append((r.recorded_ns, r.executor))
        for before, after in itertools.pairwise(sorted(acts)):
            claim_ns = min(at for at, _ in acts[after])
            earlier = [a for a in acts[before] if a[0] < claim_ns] or acts[before]
            superseded = {max(earlier)[1]}
            healthy = superseded - faulted - {x for _, x in acts[after]}
            if healthy:
                found.append(f"{wf}: epoch {after} ({sorted({x for _, x in acts[after]})}) "
                             f"superseded healthy executor(s) {sorted(healthy)} of epoch "
                             f"{before}")
    return found


def fault_firings(history: History) -> tuple[HarnessEvent, ...]:
    """The ``fault_fired`` events of a trial's faults, in the order of their index (``detail
    index``: 0 the first fault, then its follow-ups); a history from before follow-ups (no index)
    in the order they fired."""
    fired = sorted(history.events_of("fault_fired"), key=lambda e: e.at_ns)
    return tuple(sorted(fired, key=lambda e: _index(e.detail.get("index"), fired.index(e))))


def _index(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def steps_in_flight(history: History, at_ns: int) -> frozenset[int]:
    """Logical steps of the trial's root workflow that were in flight at ``at_ns``: an LLM call
    of the step had been received by then, and no LLM step record of it had been recorded by
    then (by any execution). What a fault at ``at_ns`` may make the workflow pay again."""
    root = history.workflow_ids[0]
    called = {e.step for e in history.ledger
              if e.workflow_id == root and e.step is not None and e.received_ns <= at_ns}
    recorded = {r.step for r in history.steps
                if r.workflow_id == root and r.kind == "llm" and r.step is not None
                and not r.error and r.recorded_ns <= at_ns}  # fmt: skip
    return frozenset(s for s in called if s not in recorded)


def steps_reached(history: History, at_ns: int) -> int | None:
    """The furthest logical step of the root workflow with an LLM call received by ``at_ns``
    (None before the first): a restart from zero at ``at_ns`` pays every step up to it again."""
    root = history.workflow_ids[0]
    steps = [e.step for e in history.ledger
             if e.workflow_id == root and e.step is not None and e.received_ns <= at_ns]
    return max(steps, default=None)
