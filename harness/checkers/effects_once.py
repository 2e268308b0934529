"""effects_once: every effect is applied at most once per idempotency key, and every effect of a
workflow that completed is applied at least once.

Evidence is the provider's effect sink (harness evidence). Effects considered: EffectRecords whose
``workflow_id`` is one of the trial's workflows (roots and children); others are ignored.

1. **false** when one idempotency key was applied more than once (the sink must dedup by key).
2. **false** when, per (workflow, effect name), more than one delivery was applied: the workflow
   sent the "same" effect under two different keys.
3. **false** when a workflow whose record is SUCCESS delivered effects of a name and none was
   applied, or -- when the golden baseline lists the effects the workflow at the same path
   (``workflow_paths``) applied -- one of those names was never applied for it.

Who delivered an effect, and when, is not this property's concern: an effect applied by a
superseded execution after the superseding claim is a breach of single_active_execution.

**unknown** when the trial's workflows delivered no effect and none was owed; otherwise **true**.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from harness.checkers._evidence import Clock, clip, trial_workflow_ids
from harness.checkers._verdict import Verdict
from harness.history import EffectRecord, History, Property, workflow_paths

__all__ = ["check"]

PROPERTY: Property = "effects_once"


def _owed(history: History) -> dict[tuple[str, str], list[EffectRecord]]:
    """(workflow, name) -> deliveries, with the effects a completed workflow owes but never
    sent as empty groups."""
    ids = set(trial_workflow_ids(history))
    groups: dict[tuple[str, str], list[EffectRecord]] = defaultdict(list)
    for f in sorted(history.effects, key=lambda f: f.received_ns):
        if f.workflow_id in ids:
            groups[(f.workflow_id, f.name)].append(f)
    golden = history.golden
    if golden is not None and golden.path_effects:
        paths = workflow_paths(history.workflow_ids, history.workflows)
        for w in history.workflows:
            if w.status == "SUCCESS" and w.workflow_id in paths:
                for name in golden.path_effects.get(paths[w.workflow_id], ()):
                    groups.setdefault((w.workflow_id, name), [])
    return groups


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
    return None


def check(history: History) -> Verdict:
    groups = _owed(history)
    if not groups:
        return Verdict(PROPERTY, "unknown", "no effect was delivered by this trial's workflows")
    clock = Clock(history)
    keys = Counter(f.key for deliveries in groups.values() for f in deliveries if f.applied)
    for key, count in keys.items():
        if count > 1:
            lines = [clock.effect(f) for d in groups.values() for f in d if f.key == key]
            return Verdict(PROPERTY, "false", f"idempotency key {key!r} applied {count} times",
                           clip(lines))
    for (wf, name), deliveries in groups.items():
        verdict = _judge_group(history, wf, name, deliveries, clock)
        if verdict is not None:
            return verdict
    total = sum(len(d) for d in groups.values())
    return Verdict(PROPERTY, "true", f"{len(groups)} effect(s) applied once each "
                   f"({total} deliveries)")
