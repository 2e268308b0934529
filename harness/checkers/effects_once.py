"""effects_once: side effects sent to the effect sink with an idempotency key are applied once.

Effects considered: EffectRecords whose ``workflow_id`` is one of the trial's workflows (roots
and children); others (no workflow id, another trial) are ignored. Per (workflow_id, effect name):

1. **false** when more than one delivery was applied (the sink dedups by key, so this means the
   workflow sent the "same" effect under two different keys).
2. **false** when the workflow's record is SUCCESS, it delivered effects of that name, and none
   was applied.
3. **false** when an applied delivery came from an attempt ``a`` while an attempt ``b > a`` of the
   same workflow had already shown activity (a ledger request, a step record or an effect
   delivery) strictly before it: a zombie's effect landed after a newer execution took over.
   Deliveries without an attempt skip this rule.

**unknown** when the trial's workflows delivered no effect at all (nothing was exercised);
otherwise **true**.
"""

from __future__ import annotations

from collections import defaultdict

from harness.checkers._evidence import Clock, clip, trial_workflow_ids
from harness.checkers._verdict import Verdict
from harness.history import EffectRecord, History, Property

__all__ = ["check"]

PROPERTY: Property = "effects_once"


def _first_activity_by_attempt(history: History, wf: str) -> dict[int, int]:
    """Attempt -> earliest time that attempt of workflow ``wf`` did anything."""
    first: dict[int, int] = {}
    stamps = [(e.attempt, e.received_ns) for e in history.ledger if e.workflow_id == wf]
    stamps += [(r.epoch, r.recorded_ns) for r in history.steps if r.workflow_id == wf]
    stamps += [(f.attempt, f.received_ns) for f in history.effects if f.workflow_id == wf]
    for attempt, at in stamps:
        if attempt is not None and (attempt not in first or at < first[attempt]):
            first[attempt] = at
    return first


def _zombie(history: History, effect: EffectRecord, clock: Clock) -> Verdict | None:
    wf = effect.workflow_id
    if wf is None or effect.attempt is None:
        return None
    newer = sorted((at, attempt) for attempt, at in _first_activity_by_attempt(history, wf).items()
                   if attempt > effect.attempt and at < effect.received_ns)
    if not newer:
        return None
    at, attempt = newer[0]
    return Verdict(PROPERTY, "false",
                   f"{wf}: '{effect.name}' applied from attempt {effect.attempt} at "
                   f"{clock.at(effect.received_ns)}, after attempt {attempt} took over at "
                   f"{clock.at(at)}", (clock.effect(effect),), wf)


def _judge_group(history: History, wf: str, name: str, deliveries: list[EffectRecord],
                 clock: Clock) -> Verdict | None:
    applied = [f for f in deliveries if f.applied]
    evidence = clip([clock.effect(f) for f in deliveries])
    if len(applied) > 1:
        keys = sorted({f.key for f in applied})
        return Verdict(PROPERTY, "false", f"{wf}: '{name}' applied {len(applied)} times "
                       f"(keys {keys})", evidence, wf)
    succeeded = any(w.workflow_id == wf and w.status == "SUCCESS" for w in history.workflows)
    if succeeded and not applied:
        return Verdict(PROPERTY, "false", f"{wf}: succeeded but its '{name}' effect "
                       f"({len(deliveries)} deliveries) was never applied", evidence, wf)
    for f in applied:
        zombie = _zombie(history, f, clock)
        if zombie is not None:
            return zombie
    return None


def check(history: History) -> Verdict:
    ids = set(trial_workflow_ids(history))
    groups: dict[tuple[str, str], list[EffectRecord]] = defaultdict(list)
    for f in sorted(history.effects, key=lambda f: f.received_ns):
        if f.workflow_id in ids:
            groups[(f.workflow_id, f.name)].append(f)
    if not groups:
        return Verdict(PROPERTY, "unknown", "no effect was delivered by this trial's workflows")
    clock = Clock(history)
    for (wf, name), deliveries in groups.items():
        verdict = _judge_group(history, wf, name, deliveries, clock)
        if verdict is not None:
            return verdict
    total = sum(len(d) for d in groups.values())
    return Verdict(PROPERTY, "true", f"{len(groups)} effect(s) applied once each "
                   f"({total} deliveries)")
