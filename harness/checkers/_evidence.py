"""Evidence lines: short, uniform renderings of history facts for verdicts and summaries.

Times are shown relative to the fault (``fault+1.234s``) when one fired, else relative to the
trial start (``start+1.234s``), so a reader can line up ledger entries, step records, effects and
harness events at a glance. Also the few history queries several checkers share.
"""

from __future__ import annotations

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
    "Clock",
    "clip",
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
