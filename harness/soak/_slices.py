"""A soak history cut into per-workflow slices, and the faults of a soak.

A soak's :class:`~harness.history.History` has many root workflows and many faults. The trial
checkers judge one workflow's story well; :func:`slices` gives each root workflow its own
history: its (and its children's) ledger entries, steps, records, outcomes, effects, tools and
claims, every worker event, and the fault events of the faults active during its lifetime (so
``fault_at`` is the first fault that could have touched it). Building all slices is one pass
over the history (linear in its size).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from harness.history import TERMINAL_STATUSES, HarnessEvent, History

WORKER_EVENTS = frozenset({"worker_started", "worker_exited", "trial_started"})


@dataclass(frozen=True)
class FaultSpan:
    """One fault of the soak as the history recorded it."""

    fault_id: int
    kind: str
    fired_ns: int
    healed_ns: int
    executor: str | None
    error: str
    events: tuple[HarnessEvent, HarnessEvent]
    not_landed: str = ""
    """Why the fault did not land and what it did instead (``FaultNotLanded``); "" when it did."""
    recovery: str = ""
    """How its worker was to be replaced (a worker-killing fault's planned recovery), else ""."""

    @property
    def label(self) -> str:
        """``kill/standby``: the kind and its recovery, as figures group them; else the kind."""
        return f"{self.kind}/{self.recovery}" if self.recovery else self.kind

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        return self.fired_ns <= end_ns and self.healed_ns >= start_ns


def fault_spans(history: History) -> list[FaultSpan]:
    """Every (fired, healed) pair by ``fault_id``; an unhealed one ends at the history end."""
    fired: dict[int, HarnessEvent] = {}
    healed: dict[int, HarnessEvent] = {}
    for e in history.events:
        if e.kind in ("fault_fired", "fault_healed") and "fault_id" in e.detail:
            (fired if e.kind == "fault_fired" else healed)[int(e.detail["fault_id"])] = e
    spans = []
    for fid, f in sorted(fired.items()):
        h = healed.get(fid, replace(f, kind="fault_healed", at_ns=history.ended_ns))
        spans.append(FaultSpan(fid, str(f.detail.get("fault")), f.at_ns, h.at_ns, f.executor,
                               str(h.detail.get("error", "")), (f, h),
                               str(h.detail.get("not_landed", "")),
                               str(f.detail.get("recovery", ""))))  # fmt: skip
    return spans


def root_of(history: History) -> dict[str, str]:
    """Workflow id -> its root workflow id (children through their parent links)."""
    parents = {w.workflow_id: w.parent_id for w in history.workflows}
    roots: dict[str, str] = {}
    for wid in parents.keys() | set(history.workflow_ids):
        node, seen = wid, set()
        while parents.get(node) is not None and node not in seen:
            seen.add(node)
            node = parents[node] or node
        roots[wid] = node
    return roots


def lifetimes(history: History) -> dict[str, tuple[int, int | None]]:
    """Root id -> (started, terminal or None): started at its ``workflow_started`` event (else
    its record's creation), terminal at its record's ``updated_ns`` when terminal."""
    started = {str(e.detail.get("workflow_id")): e.at_ns
               for e in history.events if e.kind == "workflow_started"}
    records = {w.workflow_id: w for w in history.workflows}
    out: dict[str, tuple[int, int | None]] = {}
    for wid in history.workflow_ids:
        record = records.get(wid)
        start = started.get(wid, record.created_ns if record else history.started_ns)
        done = record.updated_ns if record and record.status in TERMINAL_STATUSES else None
        out[wid] = (start, done)
    return out


def slices(history: History, spans: list[FaultSpan]) -> dict[str, History]:
    """Root workflow id -> its own history (see the module docstring)."""
    roots = root_of(history)
    parts: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for name in ("ledger", "steps", "workflows", "outcomes", "effects", "tools", "claims"):
        for item in getattr(history, name):
            root = roots.get(item.workflow_id or "")
            if root is not None:
                parts[root][name].append(item)
    common = [e for e in history.events if e.kind in WORKER_EVENTS]
    own = {str(e.detail.get("workflow_id")): e for e in history.events
           if e.kind == "workflow_started"}
    out = {}
    for wid, (start, done) in lifetimes(history).items():
        end = done if done is not None else history.ended_ns
        faults = [e for s in spans if s.overlaps(start, end) for e in s.events]
        events = sorted([*common, *faults, *([own[wid]] if wid in own else [])],
                        key=lambda e: e.at_ns)
        p = parts[wid]
        out[wid] = replace(
            history, trial_id=f"{history.trial_id}/{wid}", workflow_ids=(wid,),
            ledger=tuple(p["ledger"]), steps=tuple(p["steps"]), workflows=tuple(p["workflows"]),
            outcomes=tuple(p["outcomes"]), effects=tuple(p["effects"]), tools=tuple(p["tools"]),
            claims=tuple(p["claims"]), events=tuple(events))
    return out
