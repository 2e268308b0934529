"""Evidence lines: short, uniform renderings of history facts for verdicts and summaries.

Times are shown relative to the fault (``fault+1.234s``) when one fired, else relative to the
trial start (``start+1.234s``), so a reader can line up ledger entries, step records, effects and
harness events at a glance. Also the few history queries several checkers share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.history import (
    EffectRecord,
    HarnessEvent,
    History,
    LedgerEntry,
    StepRecord,
    ToolExecution,
    WorkflowRecord,
)

__all__ = [
    "MAX_EVIDENCE",
    "Act",
    "Clock",
    "clip",
    "epoch_claims",
    "execution_acts",
    "superseded_at",
    "trial_workflow_ids",
]

MAX_EVIDENCE = 12
"""Evidence lines kept per verdict; the rest are counted, not shown."""


class Clock:
    """Formats absolute nanosecond times relative to the fault (or the trial start)."""

    def __init__(self, history: History) -> None:
        fault_at = history.fault_at_ns
        if fault_at is not None:
            self.origin, self.label = fault_at, "fault"
        else:
            starts = [e.at_ns for e in history.events if e.kind in ("trial_started",
                                                                    "workflow_started")]
            self.origin = min(starts) if starts else history.started_ns
            self.label = "start"

    def at(self, ns: int | None) -> str:
        if ns is None:
            return "never"
        return f"{self.label}{(ns - self.origin) / 1e9:+.3f}s"

    def ledger(self, e: LedgerEntry) -> str:
        answered = "undelivered" if not e.delivered else f"delivered@{self.at(e.responded_ns)}"
        if e.resumed_attempt is not None:
            answered += f" resumed-by-attempt={e.resumed_attempt}"
        return (
            f"ledger {self.at(e.received_ns)} wf={e.workflow_id} step={e.step} "
            f"attempt={e.attempt} executor={e.executor} status={e.status} tokens={e.tokens} "
            f"{answered} nonce={e.nonce}"
        )

    def step(self, r: StepRecord) -> str:
        return (
            f"step {self.at(r.recorded_ns)} wf={r.workflow_id} seq={r.seq} name={r.name} "
            f"kind={r.kind} step={r.step} epoch={r.epoch} executor={r.executor} nonce={r.nonce}"
        )

    def tool(self, t: ToolExecution) -> str:
        return (
            f"tool {self.at(t.started_ns)} wf={t.workflow_id} step={t.step} name={t.name} "
            f"attempt={t.attempt} executor={t.executor} finished={self.at(t.finished_ns)} "
            f"ok={t.ok}"
        )

    def effect(self, f: EffectRecord) -> str:
        return (
            f"effect {self.at(f.received_ns)} wf={f.workflow_id} name={f.name} key={f.key} "
            f"attempt={f.attempt} executor={f.executor} applied={f.applied}"
        )

    def event(self, e: HarnessEvent) -> str:
        parts = [f"event {self.at(e.at_ns)} {e.kind}"]
        for name in ("worker", "executor", "pid", "exit_code", "oom_killed"):
            value = getattr(e, name)
            if value is not None:
                parts.append(f"{name}={value}")
        parts.extend(f"{k}={v}" for k, v in e.detail.items())
        return " ".join(parts)

    def workflow(self, w: WorkflowRecord) -> str:
        writer = ("" if w.outcome_epoch is None
                  else f" outcome_epoch={w.outcome_epoch} outcome_executor={w.outcome_executor}")
        return (
            f"workflow wf={w.workflow_id} parent={w.parent_id} status={w.status} "
            f"epoch={w.epoch} executor={w.executor}{writer} updated={self.at(w.updated_ns)}"
        )


def clip(lines: list[str] | tuple[str, ...], limit: int = MAX_EVIDENCE) -> tuple[str, ...]:
    """At most ``limit`` lines, the last one saying how many were left out."""
    if len(lines) <= limit:
        return tuple(lines)
    return (*lines[: limit - 1], f"... {len(lines) - limit + 1} more")


def trial_workflow_ids(history: History) -> tuple[str, ...]:
    """Roots first (in trial order), then every other workflow the store knows (children)."""
    seen = dict.fromkeys(history.workflow_ids)
    for w in history.workflows:
        seen.setdefault(w.workflow_id)
    return tuple(seen)


@dataclass(frozen=True)
class Act:
    at_ns: int
    epoch: int
    executor: str | None
    line: str
    write: bool
    """A step record or an applied effect: something the runtime must not accept once fenced."""


def execution_acts(history: History, wf: str, clock: Clock) -> list[Act]:
    """What the executions of ``wf`` did, by epoch, in time order: step records, outcomes, effect
    deliveries, LLM requests and tool executions (``single_active_execution``)."""
    acts = [Act(r.recorded_ns, r.epoch, r.executor, clock.step(r), True)
            for r in history.steps if r.workflow_id == wf]
    acts += [Act(w.updated_ns, w.outcome_epoch, w.outcome_executor, f"outcome {clock.workflow(w)}",
                  True)
             for w in history.workflows
             if w.workflow_id == wf and w.outcome_epoch is not None and w.status != "PENDING"]
    acts += [Act(f.received_ns, f.attempt, f.executor, clock.effect(f), f.applied)
             for f in history.effects if f.workflow_id == wf and f.attempt is not None]
    acts += [Act(e.received_ns, e.attempt, e.executor, clock.ledger(e), False)
             for e in history.trial_ledger() if e.workflow_id == wf and e.attempt is not None]
    acts += [Act(t.started_ns, t.attempt, t.executor, clock.tool(t), False)
             for t in history.trial_tools() if t.workflow_id == wf and t.attempt is not None]
    return sorted(acts, key=lambda a: (a.at_ns, a.epoch))


def epoch_claims(history: History, wf: str, acts: list[Act], clock: Clock) -> dict[int, Act]:
    """Epoch -> its claim: the recorded one, or its first activity when that is earlier."""
    first: dict[int, Act] = {}
    recorded = [Act(c.claimed_ns, c.epoch, c.executor,
                     f"claim {clock.at(c.claimed_ns)} wf={wf} epoch={c.epoch} "
                     f"executor={c.executor}", False)
                for c in history.claims if c.workflow_id == wf]
    for a in sorted([*recorded, *acts], key=lambda a: a.at_ns):
        first.setdefault(a.epoch, a)
    return first


def superseded_at(claims: Mapping[int, Act], epoch: int) -> Act | None:
    """The earliest claim of an epoch above ``epoch``: when ``epoch`` was superseded."""
    later = [a for e, a in claims.items() if e > epoch]
    return min(later, key=lambda a: a.at_ns) if later else None
