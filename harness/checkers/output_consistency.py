"""output_consistency: the final output is built from the recorded step outputs.

Every LLM response carries a unique nonce and a successful workflow's output names the nonces it
was built from (``output["llm_nonces"]``: logical step as a string -> nonce).

Which workflows: every root workflow, and every child whose record is SUCCESS with
``llm_nonces``. A root that did not succeed, or whose output has no ``llm_nonces`` mapping, is
**unknown** (nothing to compare) -- except, in a trial with several roots of which one was
judged, a root whose record is terminal but not SUCCESS (given up on: a poisoned workflow beside
its bystander): it has no output, and is left out like a child that did not succeed. The
output read is the WorkflowRecord's, else the first SUCCESS Outcome's.

Strong form (checkpointing on), per workflow: **false** unless, for every (step, nonce) in
``llm_nonces``, a non-error ``llm`` StepRecord of that workflow and step exists with that nonce,
and every such recorded llm step appears in ``llm_nonces``.

Weak form (checkpointing off), per workflow: **false** unless every (step, nonce) in
``llm_nonces`` matches a ledger entry of that workflow with that nonce, ``delivered=True``,
``attempt`` equal to the WorkflowRecord's final ``epoch`` (the execution that completed) and the
same logical step (when the entry names one). Unknown without a WorkflowRecord (no epoch).

The verdict is the worst over the judged workflows; unknown when none was judged.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.checkers._evidence import Clock, clip
from harness.checkers._verdict import Verdict, worst_of
from harness.history import TERMINAL_STATUSES, History, JSONValue, Property

__all__ = ["check"]

PROPERTY: Property = "output_consistency"


def _output(history: History, workflow_id: str) -> tuple[str | None, JSONValue]:
    """(status, output) of a workflow: its record's, else its first SUCCESS outcome's."""
    for w in history.workflows:
        if w.workflow_id == workflow_id:
            return w.status, w.output
    for o in history.outcomes:
        if o.workflow_id == workflow_id and o.status == "SUCCESS":
            return o.status, o.output
    return None, None


def _nonces(output: JSONValue) -> dict[str, str] | None:
    if not isinstance(output, Mapping):
        return None
    nonces = output.get("llm_nonces")
    if not isinstance(nonces, Mapping) or not nonces:
        return None
    return {str(k): str(v) for k, v in nonces.items()}


def _strong(history: History, wf: str, nonces: dict[str, str], clock: Clock) -> Verdict:
    recorded = {str(r.step): r for r in history.steps
                if r.workflow_id == wf and r.kind == "llm" and r.step is not None and not r.error}
    problems = [f"step {k}: output has {n}, record has "
                f"{recorded[k].nonce if k in recorded else 'no record'}"
                for k, n in sorted(nonces.items()) if k not in recorded or recorded[k].nonce != n]
    problems += [f"step {k}: recorded ({r.nonce}) but missing from the output"
                 for k, r in sorted(recorded.items()) if k not in nonces]
    evidence = clip(problems + [clock.step(r) for _, r in sorted(recorded.items())])
    if problems:
        return Verdict(PROPERTY, "false", f"{wf}: output disagrees with its step records: "
                       f"{problems[0]}", evidence, wf)
    return Verdict(PROPERTY, "true", f"{wf}: all {len(nonces)} nonces match the step records",
                   evidence, wf)


def _weak(history: History, wf: str, nonces: dict[str, str], clock: Clock) -> Verdict:
    record = next((w for w in history.workflows if w.workflow_id == wf), None)
    if record is None:
        return Verdict(PROPERTY, "unknown", f"{wf}: no workflow record, so no final epoch", (),
                       wf)
    ledger = [e for e in history.trial_ledger() if e.workflow_id == wf]
    by_nonce = {e.nonce: e for e in ledger if e.nonce is not None}
    problems: list[str] = []
    for k, n in sorted(nonces.items()):
        e = by_nonce.get(n)
        if e is None:
            problems.append(f"step {k}: nonce {n} is not in the ledger")
        elif not e.delivered or e.attempt != record.epoch or (
                e.step is not None and str(e.step) != k):
            problems.append(f"step {k}: nonce {n} came from step {e.step} attempt {e.attempt} "
                            f"(delivered={e.delivered}), final epoch is {record.epoch}")
    evidence = clip(problems + [clock.workflow(record)]
                    + [clock.ledger(e) for e in ledger if e.nonce in nonces.values()])
    if problems:
        return Verdict(PROPERTY, "false", f"{wf}: output not built from the completing execution: "
                       f"{problems[0]}", evidence, wf)
    return Verdict(PROPERTY, "true", f"{wf}: all {len(nonces)} nonces delivered to epoch "
                   f"{record.epoch}", evidence, wf)


def _judge_workflow(history: History, wf: str, root: bool, clock: Clock) -> Verdict | None:
    status, output = _output(history, wf)
    nonces = _nonces(output)
    if status != "SUCCESS" or nonces is None:
        if not root:
            return None
        why = f"status {status}" if status != "SUCCESS" else "no llm_nonces in its output"
        return Verdict(PROPERTY, "unknown", f"{wf}: nothing to compare ({why})", (), wf)
    judge = _strong if history.checkpointing else _weak
    return judge(history, wf, nonces, clock)


def _given_up(history: History, wf: str) -> bool:
    """Its record is terminal and not SUCCESS: there is no output to compare."""
    return any(w.workflow_id == wf and w.status in TERMINAL_STATUSES and w.status != "SUCCESS"
               for w in history.workflows)  # fmt: skip


def check(history: History) -> Verdict:
    clock = Clock(history)
    children = [w.workflow_id for w in history.workflows
                if w.workflow_id not in history.workflow_ids]
    verdicts = [v for wf, root in [*((r, True) for r in history.workflow_ids),
                                   *((c, False) for c in children)]
                if (v := _judge_workflow(history, wf, root, clock)) is not None]
    judged = [v for v in verdicts if v.valid != "unknown"]
    if len(history.workflow_ids) > 1 and any(v.workflow_id in history.workflow_ids
                                             for v in judged):
        verdicts = [v for v in verdicts if v.valid != "unknown" or v.workflow_id is None
                    or not _given_up(history, v.workflow_id)]  # fmt: skip
    if not verdicts:
        return Verdict(PROPERTY, "unknown", "no workflow in this trial")
    form = "strong" if history.checkpointing else "weak"
    return worst_of(verdicts, Verdict(
        PROPERTY, "true", f"{len(verdicts)} workflow output(s) consistent ({form} form)"))
