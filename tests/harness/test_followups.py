"""Follow-up faults: the spec (anchors, trial ids), the claim anchor's wait, who can run them,
and the results line that carries them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from harness.faults import KillFault, PartitionFault
from harness.followups import followups_unsupported, wait_for_claim
from harness.history import WorkflowRecord, WorkflowStatus
from harness.results import ResultRecord
from harness.scenario import research_trial
from harness.sut import ClaimRecords, SutDescription, get_sut
from harness.trial import FollowUp, TrialSpec
from harness.triggers import TriggerNeverFired

ON_CLAIM = (FollowUp(KillFault(), when="claimed"),)


def test_a_trial_without_follow_ups_keeps_its_id() -> None:
    """Stored results and goldens are keyed by trial id: follow-ups must not touch the others."""
    spec = research_trial("kill", "reference", KillFault(), "mid_step_late")
    assert spec.then == ()
    assert spec.trial_id == "kill-reference-mid_step_late-restart-s0"


@pytest.mark.parametrize(("then", "label"), [
    (ON_CLAIM, "then-kill-claimed"),
    ((FollowUp(KillFault()),), "then-kill-healed"),
    ((FollowUp(KillFault(), when="injected", delay_s=0.5),), "then-kill-injected-0.5s"),
    ((FollowUp(KillFault(), when="called"),), "then-kill-called"),
    ((FollowUp(PartitionFault(link="provider")), *ON_CLAIM),
     "then-partition-healed-fault-linkprovider_kill-claimed"),
])  # fmt: skip
def test_follow_ups_are_named_in_the_trial_id(then: tuple[FollowUp, ...], label: str) -> None:
    spec = research_trial("recovery_fault", "reference", KillFault(), "mid_step_late", then=then)
    assert spec.trial_id == f"recovery_fault-reference-mid_step_late-restart-{label}-s0"


def test_follow_ups_with_different_anchors_are_different_trials() -> None:
    ids = {research_trial("x", "reference", KillFault(), "mid_step_late",
                          then=(FollowUp(KillFault(), when=when),)).trial_id
           for when in ("injected", "healed", "claimed", "called")}  # fmt: skip
    assert len(ids) == 4


def test_the_golden_run_has_no_follow_ups_and_the_faults_are_in_order() -> None:
    first = PartitionFault(link="provider")
    spec = research_trial("x", "reference", first, "mid_step_late", then=ON_CLAIM)
    assert spec.faults == (first, KillFault())
    assert spec.golden().then == () and spec.golden().faults == ()
    assert spec.golden_key == research_trial("x", "reference", first, "mid_step_late").golden_key


@pytest.mark.parametrize(("when", "delay_s", "overlap", "error"), [
    ("recovered", 0.0, False, "unknown follow-up anchor 'recovered'"),
    ("claimed", -1.0, False, "delay_s must be >= 0"),
    ("healed", 0.0, True, "cannot overlap a fault and wait for its heal"),
])  # fmt: skip
def test_a_follow_up_refuses_what_cannot_be_run(when: str, delay_s: float, overlap: bool,
                                                error: str) -> None:
    with pytest.raises(ValueError, match=error):
        FollowUp(KillFault(), when=when, delay_s=delay_s, overlap=overlap)  # type: ignore[arg-type]


def test_only_a_statement_has_a_sender_to_fault() -> None:
    with pytest.raises(ValueError, match="on_sender=True needs when='statement'"):
        FollowUp(KillFault(), when="claimed", on_sender=True)
    sender = FollowUp(KillFault(), when="statement", pattern="SELECT", on_sender=True)
    assert sender.label.endswith("+sender") and sender.to_json()["on_sender"] is True
    assert "on_sender" not in FollowUp(KillFault(), when="statement", pattern="SELECT").to_json()


def test_an_overlapping_follow_up_is_another_trial_and_says_so_on_its_line() -> None:
    apart = FollowUp(KillFault(), when="claimed")
    over = FollowUp(KillFault(), when="claimed", overlap=True)
    assert (apart.overlaps, over.overlaps) == (False, True)
    assert FollowUp(KillFault(), when="injected").overlaps
    assert over.label == "kill-claimed+overlap"
    assert over.to_json()["overlap"] is True and "overlap" not in apart.to_json()
    assert "overlap" not in FollowUp(KillFault(), when="injected").to_json()  # as it always was


def _record(epoch: int, status: WorkflowStatus = "PENDING", executor: str = "w1") -> WorkflowRecord:
    return WorkflowRecord("wf", None, status, executor, epoch, None, epoch - 1, 0, 0)


@dataclass
class _Clock:
    """A fake clock that one poll advances by the poll interval."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _reads(records: list[WorkflowRecord | None]) -> Iterator[WorkflowRecord | None]:
    yield from records
    while True:
        yield records[-1]


@pytest.mark.parametrize(("records", "claimed_by", "polls"), [
    ([_record(1), _record(1), _record(2, executor="w2")], "w2", 2),
    ([None, _record(1), _record(3, executor="w3")], "w3", 2),  # no record yet, then two claims
    ([_record(2, executor="w2")], "w2", 0),                      # already claimed at the first read
])  # fmt: skip
def test_the_claim_anchor_fires_on_the_first_read_past_the_epoch(
    records: list[WorkflowRecord | None], claimed_by: str, polls: int,
) -> None:
    clock, reads = _Clock(), _reads(records)
    claim = wait_for_claim(lambda: next(reads), 1, 5.0, poll_s=0.02,
                           clock=lambda: clock.now, sleep=clock.sleep)  # fmt: skip
    assert claim.executor == claimed_by and claim.epoch > 1
    assert len(clock.sleeps) == polls


@pytest.mark.parametrize(("records", "message"), [
    ([_record(1)], "no new owner claimed the workflow .* last seen: epoch 1, executor w1"),
    ([None], "no new owner claimed .* last seen: no record"),
    ([_record(1), _record(1, status="SUCCESS")], "ended SUCCESS at epoch 1"),
    # a claim that ran to the end between two reads: it can no longer be faulted
    ([_record(1), _record(2, status="SUCCESS")], "ended SUCCESS at epoch 2"),
])  # fmt: skip
def test_the_claim_anchor_never_hangs(records: list[WorkflowRecord | None],
                                      message: str) -> None:  # fmt: skip
    clock, reads = _Clock(), _reads(records)
    with pytest.raises(TriggerNeverFired, match=message):
        wait_for_claim(lambda: next(reads), 1, 1.0, poll_s=0.1,
                       clock=lambda: clock.now, sleep=clock.sleep)  # fmt: skip
    assert clock.now <= 1.1


@dataclass(frozen=True)
class _Sut:
    claims: ClaimRecords
    name: str = "mine"

    def describe(self) -> SutDescription:
        return SutDescription("a SUT", "", claim_records=self.claims)


def test_a_claim_anchor_needs_records_that_show_claims() -> None:
    on_claim = research_trial("x", "reference", KillFault(), "mid_step_late", then=ON_CLAIM)
    on_heal = research_trial("x", "reference", KillFault(), "mid_step_late",
                             then=(FollowUp(KillFault()),))  # fmt: skip
    hidden = _Sut(ClaimRecords(False, "no owner column"))
    reason = followups_unsupported(on_claim, hidden)  # type: ignore[arg-type]
    assert reason is not None and "mine cannot anchor" in reason and "no owner column" in reason
    assert followups_unsupported(on_heal, hidden) is None  # type: ignore[arg-type]
    on_call = research_trial("x", "reference", KillFault(), "mid_step_late",
                             then=(FollowUp(KillFault(), when="called"),))  # fmt: skip
    assert followups_unsupported(on_call, hidden) is None, "any SUT's calls reach the provider"  # type: ignore[arg-type]
    shown = _Sut(ClaimRecords(True, "epoch"))
    assert followups_unsupported(on_claim, shown) is None  # type: ignore[arg-type]
    assert followups_unsupported(on_claim, get_sut("reference")) is None
    # a SUT that says nothing about its claims is not trusted with a claim anchor
    assert SutDescription("s", "").claim_records.visible is False


def _line(**fields: object) -> ResultRecord:
    return ResultRecord(kind="trial", run_id="r", trial_id="t", scenario="s", sut="reference",
                        checkpointing=True, workload="research_agent", env="local", seed=0,
                        **fields)  # type: ignore[arg-type]


def test_the_results_line_carries_the_follow_ups_only_when_there_are_any() -> None:
    spec: TrialSpec = research_trial("x", "reference", KillFault(), "mid_step_late",
                                     then=(FollowUp(PartitionFault(link="provider"),
                                                    when="injected", delay_s=0.5),))  # fmt: skip
    follow_ups = tuple(f.to_json() for f in spec.then)
    assert follow_ups[0]["fault"] == "partition" and follow_ups[0]["when"] == "injected"
    assert follow_ups[0]["delay_s"] == 0.5
    assert follow_ups[0]["fault_params"]["link"] == "provider"
    line = _line(followups=follow_ups).to_json()
    assert line["followups"] == [follow_ups[0]]
    assert ResultRecord.from_json(line).followups == follow_ups
    plain = _line().to_json()
    assert "followups" not in plain  # a one-fault trial's line is what it always was
    assert ResultRecord.from_json(plain).followups == ()
