"""A trial's history: the time-ordered facts that figures and checkers read, and nothing else.

Three sources feed it (docs/architecture.md, "The evidence"):
- the provider's **ledger** (every LLM request, billed or not, delivered or not), its effect sink
  and its **tool log** (every tool execution a worker started, kept outside the workers);
- the SUT's store, read through its adapter (**step records** and **workflow records**);
- the **harness events** (worker started/exited, fault fired/healed, trigger fired, timeouts) and
  the outcomes that handles observed.

All times are wall-clock nanoseconds (``time.time_ns()``) from one host, so they are comparable.
Every value here is a frozen dataclass built from JSON and serialisable back to JSON
(:func:`to_json` / :func:`history_from_json`), so a history can be stored with its trial result
and re-judged later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

JSONValue: TypeAlias = Any
"""Anything ``json.dumps`` accepts."""

Validity = Literal["true", "false", "unknown"]

Property = Literal[
    "terminates",
    "single_outcome",
    "no_replay",
    "bounded_waste",
    "output_consistency",
    "effects_once",
    "single_active_execution",
]
PROPERTIES: tuple[Property, ...] = (
    "terminates",
    "single_outcome",
    "no_replay",
    "bounded_waste",
    "output_consistency",
    "effects_once",
    "single_active_execution",
)

WorkflowStatus = Literal["PENDING", "SUCCESS", "ERROR", "CANCELLED", "DEAD_LETTER"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"SUCCESS", "ERROR", "CANCELLED", "DEAD_LETTER"})

StepKind = Literal["llm", "tool", "effect", "child", "other"]

EventKind = Literal[
    "trial_started",
    "workflow_started",
    "worker_started",
    "worker_exited",
    "trigger_fired",
    "fault_fired",
    "fault_healed",
    "supervisor_recovered",
    "trial_timeout",
    "trial_ended",
]


@dataclass(frozen=True)
class LedgerEntry:
    """One LLM request as the provider saw and billed it.

    ``step``, ``attempt`` and ``executor`` come from the headers the workload sends
    (``X-Durabench-Step``: the workload's logical step index; ``X-Durabench-Attempt``: the
    execution attempt, i.e. the runtime's fencing epoch; ``X-Durabench-Executor``).
    A request rejected with 429/503 bills nothing (tokens 0). ``responded_ns`` is None while the
    provider has not answered (held, hung, or the provider died). ``resumed_attempt`` /
    ``resumed_ns``: a background response (Responses API) that a newer execution than its
    requester retrieved -- the attempt and time of the first such retrieve (the call was resumed,
    not made again); else None.
    """

    request_id: str
    workflow_id: str | None
    step: int | None
    attempt: int | None
    executor: str | None
    model: str
    received_ns: int
    responded_ns: int | None
    status: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    delivered: bool
    nonce: str | None = None
    resumed_attempt: int | None = None
    resumed_ns: int | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class StepRecord:
    """A completed step as recorded in the SUT's store (checkpointing on only).

    ``seq`` is the runtime's sequence number within the workflow; ``step`` the workload's logical
    step index for steps that map to one (LLM calls, tools, effects), else None. ``nonce`` is the
    nonce of the LLM response whose output was recorded (llm steps only).
    """

    workflow_id: str
    seq: int
    name: str
    kind: StepKind
    step: int | None
    executor: str
    epoch: int
    recorded_ns: int
    nonce: str | None = None
    error: bool = False


@dataclass(frozen=True)
class WorkflowRecord:
    """The SUT's status row of a workflow as read at the end of the trial.

    ``outcome_epoch`` / ``outcome_executor``: which execution's terminal write the SUT accepted,
    when its records say so (else None: a SUT that keeps no such evidence, or no outcome yet).
    ``updated_ns`` of a terminal record is when that outcome was written.
    """

    workflow_id: str
    parent_id: str | None
    status: WorkflowStatus
    executor: str | None
    epoch: int
    output: JSONValue
    recovery_attempts: int
    created_ns: int
    updated_ns: int
    outcome_epoch: int | None = None
    outcome_executor: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A terminal result observed by one handle (``observer`` names it)."""

    workflow_id: str
    observer: str
    status: WorkflowStatus
    output: JSONValue
    observed_ns: int


@dataclass(frozen=True)
class EffectRecord:
    """One delivery to the provider's effect sink; ``applied`` is False for a duplicate key and
    for a fenced delivery (``fenced``: a higher epoch had been announced for its workflow)."""

    key: str
    name: str
    workflow_id: str | None
    executor: str | None
    attempt: int | None
    received_ns: int
    applied: bool
    fenced: bool = False


@dataclass(frozen=True)
class ToolExecution:
    """One tool execution as the provider's tool log saw it (harness evidence, not the SUT's).

    A worker announces a tool before running it (``started_ns``, provider clock) and reports when
    it returned (``finished_ns``; None when the worker never said so: killed, cut off, or still
    running). Attribution is the same as a ledger entry's: ``step`` the workload's logical step,
    ``attempt`` the runtime's fencing epoch, ``executor`` the worker's executor id. ``ok`` is False
    when the tool raised, None while unfinished.
    """

    execution_id: str
    workflow_id: str | None
    step: int | None
    attempt: int | None
    executor: str | None
    name: str
    started_ns: int
    finished_ns: int | None = None
    ok: bool | None = None


@dataclass(frozen=True)
class Claim:
    """A SUT's own record of one execution claiming a workflow (optional evidence: only SUT
    clients with the ``ReportsClaims`` ability give it). ``epoch`` is the fencing token the claim
    took, ``claimed_ns`` when the claim committed."""

    workflow_id: str
    epoch: int
    executor: str | None
    claimed_ns: int


@dataclass(frozen=True)
class HarnessEvent:
    """Something the harness did or saw. ``worker`` is the harness's name for a worker."""

    at_ns: int
    kind: EventKind
    worker: str | None = None
    executor: str | None = None
    pid: int | None = None
    exit_code: int | None = None
    oom_killed: bool | None = None
    detail: Mapping[str, JSONValue] = field(default_factory=dict)


ROOT_PATH = "0"
"""The path of a trial's (first) root workflow; see :func:`workflow_paths`."""


@dataclass(frozen=True)
class GoldenBaseline:
    """What the same trial costs without the fault."""

    tokens_billed: int
    calls: int
    cost_usd: float
    duration_s: float
    step_tokens: Mapping[int, int]
    """Logical step index -> tokens billed for that step's calls in the golden run, for the root
    workflow (path :data:`ROOT_PATH`). Kept for the scenarios that read the root's costs."""
    path_step_tokens: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    """Workflow path (see :func:`workflow_paths`) -> logical step -> tokens billed in the golden
    run, for the root and every child. Empty in results written before it existed: then
    :meth:`tokens_at` falls back to ``step_tokens`` for the root."""
    tool_executions: int | None = None
    """Tool executions the golden run recorded; None when unknown (older results)."""
    path_effects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Workflow path -> names of the effects the golden run applied for it (sorted); empty in
    older results. A workflow at that path that completes owes each of them at least once."""

    def tokens_at(self, path: str, step: int) -> int:
        """Golden tokens of logical ``step`` of the workflow at ``path``; 0 when it had none."""
        if self.path_step_tokens:
            return int(self.path_step_tokens.get(path, {}).get(step, 0))
        return int(self.step_tokens.get(step, 0)) if path == ROOT_PATH else 0


@dataclass(frozen=True)
class History:
    """Everything the checkers may look at for one trial."""

    trial_id: str
    workflow_ids: tuple[str, ...]
    """Root workflows the trial started (children appear in ``workflows`` with a parent_id)."""
    checkpointing: bool
    ledger: tuple[LedgerEntry, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    workflows: tuple[WorkflowRecord, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    effects: tuple[EffectRecord, ...] = ()
    events: tuple[HarnessEvent, ...] = ()
    tools: tuple[ToolExecution, ...] = ()
    """Tool executions from the provider's tool log (empty for results older than the log)."""
    claims: tuple[Claim, ...] = ()
    """Claims as the SUT recorded them, when its client reports them (else empty)."""
    golden: GoldenBaseline | None = None
    terminate_bound_s: float = 60.0
    """How long after the last heal every workflow must have reached a terminal state."""
    started_ns: int = 0
    ended_ns: int = 0

    def events_of(self, kind: EventKind) -> tuple[HarnessEvent, ...]:
        return tuple(e for e in self.events if e.kind == kind)

    @property
    def fault_at_ns(self) -> int | None:
        """When the harness fired the (first) fault; None when it never fired."""
        fired = self.events_of("fault_fired")
        return min(e.at_ns for e in fired) if fired else None

    @property
    def healed_ns(self) -> int | None:
        """When the last heal ran; None when nothing was healed."""
        healed = self.events_of("fault_healed")
        return max(e.at_ns for e in healed) if healed else None

    @property
    def timed_out(self) -> bool:
        return bool(self.events_of("trial_timeout"))

    def trial_ledger(self) -> tuple[LedgerEntry, ...]:
        """Ledger entries of the trial's workflows, children included."""
        ids = self.trial_workflow_set()
        return tuple(e for e in self.ledger if e.workflow_id in ids)

    def trial_tools(self) -> tuple[ToolExecution, ...]:
        """Tool executions of the trial's workflows, children included, in start order."""
        ids = self.trial_workflow_set()
        return tuple(sorted((t for t in self.tools if t.workflow_id in ids),
                            key=lambda t: t.started_ns))

    def trial_workflow_set(self) -> frozenset[str]:
        """The trial's roots and every workflow the SUT's store knows (children)."""
        return frozenset(self.workflow_ids) | {w.workflow_id for w in self.workflows}


def workflow_paths(roots: tuple[str, ...] | list[str],
                   workflows: tuple[WorkflowRecord, ...] | list[WorkflowRecord]) -> dict[str, str]:
    """Workflow id -> a path that names it the same way in every run of the same trial.

    Golden and faulted runs use different workflow ids, so per-(workflow, step) figures key
    workflows by their place in the tree instead: the i-th root is ``str(i)`` (a trial has one
    root, :data:`ROOT_PATH`), and a child is its parent's path, ``"."``, and its rank among its
    siblings ordered by (``created_ns``, workflow id). The path is derived from the store's
    ``parent_id`` links and creation order, never from the format of a SUT's ids. A workflow
    whose parent is unknown (not a root, parent not in ``workflows``) gets no path.
    """
    paths = {wf: str(i) for i, wf in enumerate(roots)}
    children: dict[str, list[WorkflowRecord]] = {}
    for w in workflows:
        if w.parent_id is not None and w.workflow_id not in paths:
            children.setdefault(w.parent_id, []).append(w)
    pending = list(paths)
    while pending:
        parent = pending.pop()
        kids = sorted(children.get(parent, ()), key=lambda w: (w.created_ns, w.workflow_id))
        for rank, kid in enumerate(kids):
            if kid.workflow_id not in paths:
                paths[kid.workflow_id] = f"{paths[parent]}.{rank}"
                pending.append(kid.workflow_id)
    return paths


# -- JSON round trip -------------------------------------------------------------------------------

def to_json(value: Any) -> JSONValue:
    """A dataclass tree as plain JSON values (dicts, lists, numbers, strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def _build(cls: type[Any], data: Mapping[str, JSONValue]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def history_from_json(data: Mapping[str, JSONValue]) -> History:
    golden = data.get("golden")
    return History(
        trial_id=data["trial_id"],
        workflow_ids=tuple(data["workflow_ids"]),
        checkpointing=bool(data["checkpointing"]),
        ledger=tuple(_build(LedgerEntry, e) for e in data.get("ledger", ())),
        steps=tuple(_build(StepRecord, e) for e in data.get("steps", ())),
        workflows=tuple(_build(WorkflowRecord, e) for e in data.get("workflows", ())),
        outcomes=tuple(_build(Outcome, e) for e in data.get("outcomes", ())),
        effects=tuple(_build(EffectRecord, e) for e in data.get("effects", ())),
        events=tuple(_build(HarnessEvent, e) for e in data.get("events", ())),
        tools=tuple(_build(ToolExecution, e) for e in data.get("tools", ())),
        claims=tuple(_build(Claim, e) for e in data.get("claims", ())),
        golden=None if golden is None else golden_from_json(golden),
        terminate_bound_s=float(data.get("terminate_bound_s", 60.0)),
        started_ns=int(data.get("started_ns", 0)),
        ended_ns=int(data.get("ended_ns", 0)),
    )


def golden_from_json(data: Mapping[str, JSONValue]) -> GoldenBaseline:
    """A :class:`GoldenBaseline` from its JSON; lines written before ``path_step_tokens`` and
    ``tool_executions`` / ``path_effects`` existed read with empty mappings and None."""
    tools = data.get("tool_executions")
    return GoldenBaseline(
        tokens_billed=int(data["tokens_billed"]),
        calls=int(data["calls"]),
        cost_usd=float(data["cost_usd"]),
        duration_s=float(data["duration_s"]),
        step_tokens={int(k): int(v) for k, v in data["step_tokens"].items()},
        path_step_tokens={str(path): {int(k): int(v) for k, v in steps.items()}
                          for path, steps in data.get("path_step_tokens", {}).items()},
        tool_executions=None if tools is None else int(tools),
        path_effects={str(path): tuple(str(n) for n in names)
                      for path, names in data.get("path_effects", {}).items()},
    )
