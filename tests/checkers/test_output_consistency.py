from __future__ import annotations

from dataclasses import replace

import pytest
from checker_histories import clean_run, crash_run, led, output, rec, wfrec, with_

from harness.checkers import output_consistency
from harness.history import History, Validity

CRASH = crash_run()
NOCKPT = crash_run(checkpointing=False)


def _with_output(h: History, nonces: dict[int, str], **record: object) -> History:
    fields: dict[str, object] = {"epoch": h.workflows[0].epoch, "updated": 7.5}
    fields.update(record)
    return with_(h, workflows=(wfrec(output=output(nonces), **fields),))  # type: ignore[arg-type]


def _multi_agent(child_nonce: str) -> History:
    """A root with one child; the child's output names ``child_nonce`` for its step 0."""
    base = clean_run(n=1)
    child = wfrec(wf="child-1", parent="wf-1", output=output({0: child_nonce}), updated=0.9)
    return with_(base, workflows=(*base.workflows, child),
                 ledger=(*base.ledger, led(0, 0.1, wf="child-1", nonce="c0")),
                 steps=(*base.steps, rec(0, 0.7, wf="child-1", nonce="c0")))


def _bystander(poisoned: str, bystander: str, first: str = "wf-1") -> History:
    """Two roots: ``wf-1`` (its steps 0-2 recorded; ``poisoned`` status) and ``wf-2``, a clean
    one-step run (``bystander`` status); ``first`` is the root listed first."""
    base = clean_run(n=1)
    second = wfrec(wf="wf-2", status=bystander,  # type: ignore[arg-type]
                   output=output({0: "b0"}) if bystander == "SUCCESS" else {}, updated=0.9)
    first_root = replace(base.workflows[0], status=poisoned,
                         output=base.workflows[0].output if poisoned == "SUCCESS" else {})
    roots = ("wf-1", "wf-2") if first == "wf-1" else ("wf-2", "wf-1")
    return with_(base, workflow_ids=roots, workflows=(first_root, second),
                 ledger=(*base.ledger, led(0, 0.1, wf="wf-2", nonce="b0")),
                 steps=(*base.steps, rec(0, 0.7, wf="wf-2", nonce="b0")))


CASES: list[tuple[str, History, Validity, str]] = [
    ("strong: clean run", clean_run(), "true", "strong form"),
    ("strong: resumed run", CRASH, "true", "strong form"),
    ("strong: output uses the lost response", _with_output(
        CRASH, {0: "n0a1", 1: "n1a1", 2: "n2a1", 3: "n3a2"}), "false", "step 2"),
    ("strong: recorded step missing from output", _with_output(
        CRASH, {0: "n0a1", 1: "n1a1", 2: "n2a2"}), "false", "missing from the output"),
    ("strong: child output disagrees", _multi_agent("c-other"), "false", "child-1"),
    ("strong: child output agrees", _multi_agent("c0"), "true", "2 workflow output"),
    ("weak: rerun from scratch", NOCKPT, "true", "weak form"),
    ("weak: nonce from the killed attempt", _with_output(
        NOCKPT, {0: "n0a1", 1: "n1a2", 2: "n2a2", 3: "n3a2"}), "false", "attempt 1"),
    ("weak: nonce never delivered", with_(NOCKPT, ledger=tuple(
        e if e.nonce != "n3a2" else replace(e, delivered=False) for e in NOCKPT.ledger)),
     "false", "delivered=False"),
    ("weak: nonce not in the ledger", _with_output(
        NOCKPT, {0: "n0a2", 1: "n1a2", 2: "n2a2", 3: "forged"}), "false", "not in the ledger"),
    ("workflow failed", with_(CRASH, workflows=(wfrec(status="ERROR", epoch=2),)),
     "unknown", "status ERROR"),
    ("poisoned root beside a bystander that succeeded", _bystander("DEAD_LETTER", "SUCCESS"),
     "true", "1 workflow output"),
    ("a failed root listed first, the other judged",
     _bystander("SUCCESS", "ERROR", first="wf-2"),
     "true", "1 workflow output"),
    ("poisoned root, bystander still running", _bystander("DEAD_LETTER", "PENDING"),
     "unknown", "status"),
    ("two roots given up: nothing judged", _bystander("DEAD_LETTER", "ERROR"),
     "unknown", "status"),
    ("output without llm_nonces", with_(CRASH, workflows=(wfrec(output={"report": "r"},
                                                                epoch=2),)),
     "unknown", "no llm_nonces"),
]


@pytest.mark.parametrize(("name", "trial", "expected", "says"), CASES,
                         ids=[c[0] for c in CASES])
def test_output_consistency(name: str, trial: History, expected: Validity, says: str) -> None:
    verdict = output_consistency.check(trial)
    assert verdict.property == "output_consistency"
    assert verdict.valid == expected, verdict
    assert says in verdict.details
