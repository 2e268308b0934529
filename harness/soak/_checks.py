"""Checkers over a whole soak history, per SUT (pure functions: no process, clock or file).

Figures (:class:`SoakFigures`), each over the soak's root workflows:
- **lost**: started (submitted) but not terminal when the history was read (that is, not within
  ``terminate_bound_s`` after the last heal); **stuck**: the lost ones still PENDING whose owner
  has no live worker (a lost one no worker ever claimed is lost, not stuck: it was queued);
- **duplicate outcomes**: single_outcome false for the workflow (two terminal results, or a
  handle that saw another value than the record);
- **duplicate effects**: an idempotency key applied twice, or one (workflow, effect) applied
  under two keys (effects_once's first two rules);
- **superseded writes**: single_active_execution false for the workflow (a step, outcome or
  effect of a superseded execution accepted after the superseding claim);
- every other promised trial checker (no_replay, output_consistency, effects_once's at-least-once
  rule) is run per workflow on its slice (:mod:`harness.soak._slices`); the count of false
  verdicts per property is reported;
- **redundant tokens / $**: a workflow's tokens (children included) minus the golden run's,
  split equally among the faults active during its lifetime and summed per fault kind; a
  workflow no fault overlapped counts under ``(none)`` (noise, expected 0);
- **time to recover** per fault: over the workflows it caught (running when it fired: an LLM
  request made before it; for a worker fault, the latest one by the faulted worker), the latest of
  (first LLM request after the fault, at a step beyond the workflow's frontier, by the execution
  that completed it — else the workflow's terminal time) minus the fault time; a fault that
  caught no workflow in flight has none.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from harness.checkers import CHECKERS, Verdict, run_checker
from harness.checkers._evidence import Clock
from harness.history import History, Property
from harness.scenario import queue_overruns
from harness.soak._plan import WORKER_KINDS
from harness.soak._slices import FaultSpan, fault_spans, lifetimes, slices

SLICE_PROPERTIES: tuple[Property, ...] = (
    "single_outcome", "effects_once", "single_active_execution", "no_replay",
    "output_consistency",
)
ANOMALY_COUNTS = ("lost", "stuck", "duplicate_outcomes", "duplicate_effects",
                  "superseded_writes", "queue_overruns")


@dataclass(frozen=True)
class FaultRecovery:
    fault_id: int
    kind: str
    in_flight: int
    ttr_s: float | None
    never_recovered: int


@dataclass(frozen=True)
class Anomaly:
    property: str
    workflow_id: str
    details: str
    evidence: tuple[str, ...]
    faults: tuple[str, ...]


@dataclass
class SoakFigures:
    workflows: int = 0
    succeeded: int = 0
    failed: int = 0
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    duplicate_outcomes: list[str] = field(default_factory=list)
    duplicate_effects: list[str] = field(default_factory=list)
    superseded_writes: list[str] = field(default_factory=list)
    queue_overruns: list[str] = field(default_factory=list)
    """Moments more workflows ran at once than a queue limit the soak set allows."""
    false_by_property: dict[str, int] = field(default_factory=dict)
    unknown_by_property: dict[str, int] = field(default_factory=dict)
    tokens_billed: int = 0
    redundant_tokens: int = 0
    redundant_cost_usd: float = 0.0
    redundant_by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    recoveries: list[FaultRecovery] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    fault_errors: list[str] = field(default_factory=list)
    faults_not_landed: list[str] = field(default_factory=list)
    """Faults that could not land in their window and were undone (not errors, not anomalies)."""

    @property
    def clean(self) -> bool:
        return not any(getattr(self, name) for name in ANOMALY_COUNTS) and not any(
            self.false_by_property.values())


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ttr_summary(recoveries: list[FaultRecovery]) -> dict[str, dict[str, float | int]]:
    """Per fault kind and ``all``: n, p50, p95, max of time_to_recover (seconds)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in recoveries:
        if r.ttr_s is not None:
            groups[r.kind].append(r.ttr_s)
            groups["all"].append(r.ttr_s)
    return {k: {"n": len(v), "p50": _percentile(v, 0.5), "p95": _percentile(v, 0.95),
                "max": max(v)} for k, v in sorted(groups.items())}


def _caught(span: FaultSpan, part: History) -> bool:
    """Whether the fault caught this (running) workflow: it had made an LLM request before the
    fault (a queued one was not caught), and, for a worker fault, its latest request before the
    fault came from the faulted worker's executor."""
    before = [e for e in part.ledger if e.received_ns <= span.fired_ns]
    if not before:
        return False
    return span.kind not in WORKER_KINDS or before[-1].executor == span.executor


def _recovery(span: FaultSpan, sliced: dict[str, History],
              life: dict[str, tuple[int, int | None]]) -> FaultRecovery:
    times, never, caught = [], 0, 0
    for wid, (start, done) in life.items():
        if not (start <= span.fired_ns and (done is None or done > span.fired_ns)):
            continue
        if not _caught(span, sliced[wid]):
            continue
        caught += 1
        if done is None:
            never += 1
            continue
        ledger = sliced[wid].ledger
        before = [e.step for e in ledger if e.delivered and e.step is not None
                  and (e.responded_ns or 0) <= span.fired_ns]
        front = max(before, default=-1)
        final = ledger[-1].attempt if ledger else None
        after = [e.received_ns for e in ledger if e.received_ns > span.fired_ns
                 and e.step is not None and e.step > front and e.attempt == final]
        times.append((min(after) if after else done) - span.fired_ns)
    ttr = None if not caught or never else max(times, default=0) / 1e9
    return FaultRecovery(span.fault_id, span.label, caught, ttr, never)


def _waste(fig: SoakFigures, history: History, sliced: dict[str, History],
           spans: list[FaultSpan], life: dict[str, tuple[int, int | None]]) -> None:
    golden = history.golden
    by_kind: dict[str, dict[str, float]] = defaultdict(lambda: {"tokens": 0.0, "usd": 0.0})
    for wid, part in sliced.items():
        tokens = sum(e.tokens for e in part.ledger)
        fig.tokens_billed += tokens
        if golden is None or life[wid][1] is None:
            continue
        extra = tokens - golden.tokens_billed
        usd = math.fsum(e.cost_usd for e in part.ledger) - golden.cost_usd
        fig.redundant_tokens += extra
        fig.redundant_cost_usd += usd
        start, done = life[wid]
        kinds = ([s.label for s in spans if s.overlaps(start, done or history.ended_ns)]
                 or ["(none)"])
        for kind in kinds:
            by_kind[kind]["tokens"] += extra / len(kinds)
            by_kind[kind]["usd"] += usd / len(kinds)
    fig.redundant_by_kind = {k: {"tokens": round(v["tokens"], 1), "usd": round(v["usd"], 6)}
                             for k, v in sorted(by_kind.items())}


def _faults_around(spans: list[FaultSpan], start: int, end: int, origin: int) -> tuple[str, ...]:
    return tuple(f"fault #{s.fault_id} {s.label} executor={s.executor} fired "
                 f"{(s.fired_ns - origin) / 1e9:+.3f}s healed {(s.healed_ns - origin) / 1e9:+.3f}s"
                 for s in spans if s.overlaps(start, end))


def history_slice(part: History, last: int = 16) -> tuple[str, ...]:
    """The latest ``last`` facts of one workflow's slice, time-ordered (times from the first
    fault around it): what it did last before it was lost."""
    clock = Clock(part)
    facts = [(e.received_ns, clock.ledger(e)) for e in part.ledger]
    facts += [(r.recorded_ns, clock.step(r)) for r in part.steps]
    facts += [(t.started_ns, clock.tool(t)) for t in part.tools]
    facts += [(e.at_ns, clock.event(e)) for e in part.events if e.kind != "worker_started"]
    facts += [(w.updated_ns, clock.workflow(w)) for w in part.workflows]
    return tuple(line for _, line in sorted(facts)[-last:])


def _judge_slice(fig: SoakFigures, wid: str, part: History, promised: frozenset[str],
                 faults: tuple[str, ...]) -> None:
    for prop in SLICE_PROPERTIES:
        if prop not in promised:
            continue
        verdict: Verdict = run_checker(prop, CHECKERS[prop], part)
        if verdict.valid == "unknown":
            fig.unknown_by_property[prop] = fig.unknown_by_property.get(prop, 0) + 1
        if verdict.valid != "false":
            continue
        fig.false_by_property[prop] = fig.false_by_property.get(prop, 0) + 1
        if prop == "single_outcome":
            fig.duplicate_outcomes.append(wid)
        elif prop == "single_active_execution":
            fig.superseded_writes.append(wid)
        elif prop == "effects_once" and "applied" in verdict.details and "times" in verdict.details:
            fig.duplicate_effects.append(wid)
        fig.anomalies.append(Anomaly(prop, wid, verdict.details, verdict.evidence, faults))


def check_soak(history: History, promised: frozenset[str], live_executors: frozenset[str],
               queue_limits: tuple[int, int] = (0, 0)) -> SoakFigures:
    """Every soak figure and anomaly of ``history`` for a SUT promising ``promised``;
    ``queue_limits``: the queue's limits the soak set (per worker, across workers; 0 none)."""
    spans = fault_spans(history)
    sliced = slices(history, spans)
    life = lifetimes(history)
    records = {w.workflow_id: w for w in history.workflows}
    fig = SoakFigures(workflows=len(history.workflow_ids))
    origin = history.started_ns
    for wid, (start, done) in life.items():
        record = records.get(wid)
        faults = _faults_around(spans, start, done or history.ended_ns, origin)
        if done is None:
            fig.lost.append(wid)
            owner = record.executor if record else None
            if owner is not None and owner not in live_executors:
                fig.stuck.append(wid)
            fig.anomalies.append(Anomaly(
                "terminates", wid, f"{wid} {record.status if record else 'missing'} at the end "
                f"(owner {owner}, live: {sorted(live_executors)})", history_slice(sliced[wid]),
                faults))
        elif record is not None:
            fig.succeeded += record.status == "SUCCESS"
            fig.failed += record.status != "SUCCESS"
        _judge_slice(fig, wid, sliced[wid], promised, faults)
    fig.recoveries = [_recovery(s, sliced, life) for s in spans]
    _waste(fig, history, sliced, spans, life)
    for limit, per_executor in zip(queue_limits, (True, False), strict=True):
        for line in queue_overruns(history, limit, per_executor=per_executor) if limit else ():
            fig.queue_overruns.append(line)
            fig.anomalies.append(Anomaly("queue_limit", line.split(": ")[0], line, (), ()))
    fig.fault_errors = [s.error for s in spans if s.error]
    fig.faults_not_landed = [s.not_landed for s in spans if s.not_landed]
    return fig
