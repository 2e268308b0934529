"""recovery fault: a second SIGKILL inside recovery, of the worker that took the workflow over.

The worker is SIGKILLed late in an LLM step (``mid_step_late``); the moment a new owner claims the
workflow (its record's epoch grows: a restarted worker under ``restart``, a standby under
``standby``), that new owner is SIGKILLed too (a follow-up fault anchored on the claim,
:class:`harness.FollowUp`). A third execution (a second restart; the second of two standbys)
finishes. Whatever the interleaving:

- every promised verdict holds;
- the second kill hit the owner that claimed, and the workflow's final epoch is at least 3;
- with checkpointing, where bounded_waste is promised, the redundant tokens stay within the steps
  in flight at the two kills; elsewhere within what two restarts from zero would pay.

A SUT whose workflow records do not show a claim as it happens skips (its
``SutDescription.claim_records`` says why).

``test_store_restarts_as_recovery_begins``: the same kill, then Postgres crashes (and restarts
after 2 s) the moment the recovery first writes the workflow's record -- the restarted worker's
launch-time recovery under ``restart``; under ``standby`` a standby's claim, or, for a SUT whose
takeovers are a supervisor's (DBOS), the supervisor's hand-over, which a live worker runs with
the runtime's own recovery (``recover_pending_workflows``, as Conductor has it run) -- seen
arriving at Postgres in the trial's statement log (``FollowUp(when="statement")``, a pattern
per runtime below): a failover commonly kills a worker and makes Postgres briefly unavailable
at once, while another executor is recovering the dead one's workflows (a transient error
inside that recovery loop must not drop a workflow from it). The recovery must not strand the
workflow: every promised verdict holds,
the workflow ends SUCCESS, and with checkpointing nothing but the step in flight at the kill is
paid again where bounded_waste is promised. A SUT with the known finding
``recovery_fault::store_restarts_<policy>`` (DBOS under ``standby``: a workflow recovered as
Postgres crashes left PENDING under the live executor that took it) is an xfail when the race
goes that way: ``terminates`` false and nothing else false.

``test_store_restarts_inside_recovery``: the same, on a slow store link: from the kill until
Postgres is back, each of Postgres's answers comes 100 ms late (a ``degrade`` follow-up the crash
overlaps, ``FollowUp(overlap=True)``). The recovery's transaction is then still open when the
crash lands, so the error reaches the recovery loop itself (on a fast link a one-statement
recovery commits first): a runtime whose loop logs and drops a workflow on a transient database
error leaves it PENDING under the dead executor (DBOS before its recovery retried the write:
``--sut dbos==2.23.0`` fails ``terminates`` under ``standby``).

``test_a_stale_recovery_takes_nothing_from_the_new_owner``: recovery racing itself, one attempt
acting on a stale read. The same kill, on the same slow link; the live executor that reads which
workflows to recover (the statement's sender, ``FollowUp(on_sender=True)``) is frozen (SIGSTOP)
before the answer reaches it, and stays frozen until the workflow has a new owner: the supervisor,
unanswered, asked the next live executor, whose recovery and queue started the workflow again
(``PauseFault(order="until_claimed")``). Resumed, the first recovery acts on what it read before:
it must not take the workflow from its new owner. A runtime that re-enqueues a workflow with no
check of who holds it runs it twice (DBOS before 2.29.0: ``single_active_execution`` and
``bounded_waste`` false). Only for a runtime whose recovery reads before it writes
(:data:`RECOVERY_READ`); one whose recovery is one claim statement skips.

All three: local environment only (the statement log is the embedded Postgres's server log); a
SUT whose store is not Postgres skips.
"""

from __future__ import annotations

from typing import Literal

import pytest

from harness import (
    DbCrashFault,
    DegradeFault,
    FollowUp,
    History,
    JSONValue,
    KillFault,
    PauseFault,
    TrialResult,
    TrialRunner,
    fault_firings,
    get_sut,
    known_finding,
    research_trial,
    steps_in_flight,
    steps_reached,
    store_link,
    xfail_known_unfinished,
)
from harness.history import HarnessEvent

pytestmark = [pytest.mark.xdist_group("recovery_fault"), pytest.mark.durabench_case_s(9)]

CRASH = "mid_step_late"
RECOVERY_WRITE = {
    # A SUT whose recovery is a claim (the reference's epoch bump, the lease loop's) declares
    # that statement itself (SutDescription.claim_poll); these are the others'.
    # DBOS's recovery (launch-time, or the one a supervisor asks a live executor to run): its
    # first write of this workflow's status row -- by its id: a queue's periodic promotion of
    # delayed workflows (UPDATE ... WHERE status = 'DELAYED') is no recovery
    "dbos": r"^\s*(UPDATE \S*workflow_status\b.*\bWHERE\b.*\bworkflow_uuid = "
            r"|INSERT INTO \S*workflow_status\b)",
}
"""Per runtime whose recovery is not its claim poll: what its recovery's first write of the
workflow's record looks like on the wire (a regular expression over the statement's text, as
Postgres logs it)."""


SLOW_STORE_LINK = FollowUp(DegradeFault(attributes=(("latency", 100),), duration_s=0.0),
                           when="healed")
"""From the kill until Postgres is back, every answer of Postgres comes 100 ms late: a recovery's
transaction is then still open when the crash it began with lands (on a fast link the first write
of a one-statement recovery commits before it)."""


RECOVERY_READ = {
    # DBOS's recovery reads the dead executor's PENDING workflows (get_pending_workflows), then
    # writes each (clear_queue_assignment / reenqueue_for_recovery): two statements apart.
    "dbos": r"^\s*SELECT \S*workflow_status\.workflow_uuid\b.*\bFROM \S*workflow_status\s+"
            r"WHERE \S*workflow_status\.status = \S+ AND \S*workflow_status\.executor_id = ",
}
"""Per runtime whose recovery reads what to recover before it writes anything: that read, on the
wire. A runtime whose recovery is one claim statement (read and write at once: the reference's,
the lease loop's) has no stale read to act on."""


def recovery_write(sut: str) -> str | None:
    """The pattern of ``sut``'s recovery's first write: its own claim poll, else ours above."""
    return get_sut(sut).describe().claim_poll or RECOVERY_WRITE.get(sut.split("==")[0])


@pytest.mark.parametrize("policy", ["restart", "standby"])
def test_kill_during_recovery(trials: TrialRunner, sut: str, policy: str, seed: int) -> None:
    _killed_twice(trials, sut, policy, seed, "claimed")


@pytest.mark.parametrize("policy", ["restart", "standby"])
def test_kill_at_the_recoverys_first_call(trials: TrialRunner, sut: str, policy: str,
                                          seed: int) -> None:
    """For a SUT whose records show no claim as it happens (Temporal: the server hands the
    activity on): the second kill lands on the worker whose execution re-makes the workflow's
    LLM call after the first kill, the moment the provider receives it."""
    claims = get_sut(sut).describe().claim_records
    if claims.visible:
        pytest.skip(f"{sut}'s claims are visible: test_kill_during_recovery kills its new owner "
                    "the moment it claims, before its first call")
    _killed_twice(trials, sut, policy, seed, "called")


def _killed_twice(trials: TrialRunner, sut: str, policy: str, seed: int,
                  anchor: Literal["claimed", "called"]) -> None:
    # standby: two standbys, so one is left to finish once the first to claim is killed
    spec = research_trial("recovery_fault", sut, KillFault(), CRASH, recovery=policy,
                          standbys=2 if policy == "standby" else 1, seed=seed,
                          then=(FollowUp(KillFault(), when=anchor),))  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    history, fig = result.history, result.figures
    firings = fault_firings(history)
    assert len(firings) == 2, f"expected two kills, saw {len(firings)}: {firings}"
    second = firings[1]
    assert second.executor == second.detail.get("owner"), (
        f"the second kill hit {second.executor}, not the owner that {anchor} it: "
        f"{second.detail}")
    sut_info = get_sut(sut)
    if sut_info.describe().claim_records.visible:
        epoch = history.workflows[0].epoch
        assert epoch >= 3, f"two kills need a third execution to finish: final epoch {epoch}"
    if not sut_info.checkpointing:
        return
    golden = history.golden
    assert golden is not None and fig.redundant_tokens is not None
    if "bounded_waste" in sut_info.promises:
        in_flight = [steps_in_flight(history, f.at_ns) for f in firings]
        bound = sum(golden.step_tokens.get(s, 0) for steps in in_flight for s in steps)
        assert 0 <= fig.redundant_tokens <= bound, (
            f"{fig.redundant_tokens} redundant tokens; the steps in flight at the two kills "
            f"({[sorted(s) for s in in_flight]}) were worth {bound}")
    else:
        reached = [steps_reached(history, f.at_ns) for f in firings]
        from_zero = sum(t for r in reached if r is not None
                        for step, t in golden.step_tokens.items() if step <= r)  # fmt: skip
        assert 0 <= fig.redundant_tokens <= from_zero, (
            f"checkpointing wasted more than two restarts from zero would: "
            f"{fig.redundant_tokens} > {from_zero} redundant tokens (steps reached {reached})")


@pytest.mark.parametrize("policy", ["restart", "standby"])
def test_store_restarts_as_recovery_begins(trials: TrialRunner, sut: str, policy: str,
                                           seed: int) -> None:
    _store_restarts_during_recovery(trials, sut, policy, seed, slow_link=False)


@pytest.mark.parametrize("policy", ["restart", "standby"])
def test_store_restarts_inside_recovery(trials: TrialRunner, sut: str, policy: str,
                                        seed: int) -> None:
    _store_restarts_during_recovery(trials, sut, policy, seed, slow_link=True)


def _store_restarts_during_recovery(trials: TrialRunner, sut: str, policy: str, seed: int, *,
                                    slow_link: bool) -> None:
    _needs_postgres(sut)
    pattern = recovery_write(sut)
    if pattern is None:
        pytest.skip(f"this scenario does not know what {sut}'s recovery first writes")
    crash = FollowUp(DbCrashFault(), when="statement", pattern=pattern, overlap=slow_link)
    then = (SLOW_STORE_LINK, crash) if slow_link else (crash,)
    spec = research_trial("recovery_fault", sut, KillFault(), CRASH, recovery=policy,
                          seed=seed, then=then)  # fmt: skip
    result = trials.run(spec)
    case = f"store_restarts_{'slow_' if slow_link else ''}{policy}"
    finding = known_finding(sut, "recovery_fault", case)
    if finding is not None and result.valid != "true":
        xfail_known_unfinished(result, sut, finding)
    trials.require_valid(result)
    history = result.history
    firings = fault_firings(history)
    expected = ["kill", "degrade", "db_crash"] if slow_link else ["kill", "db_crash"]
    assert [f.detail.get("fault") for f in firings] == expected, (
        f"expected {', then '.join(expected)}: {firings}")
    crashed = firings[-1]
    assert crashed.detail.get("anchor") == "statement", crashed.detail
    root = history.workflows[0]
    assert root.status == "SUCCESS", (
        f"the recovery did not survive the Postgres crash it began with: {root.status} "
        f"(crashed as {crashed.detail.get('statement')!r} arrived)")
    _paid_only_the_kill(result, sut, firings[0].at_ns, "the crash during recovery cost more")


def test_a_stale_recovery_takes_nothing_from_the_new_owner(trials: TrialRunner, sut: str,
                                                           seed: int) -> None:
    _needs_postgres(sut)
    pattern = RECOVERY_READ.get(sut.split("==")[0])
    if pattern is None:
        pytest.skip(f"{sut}'s recovery is one claim statement (its read and its write at once): "
                    "no stale read to act on")
    # Two standbys: the one frozen inside its recovery, and the one the supervisor asks next.
    result, killed, paused, heal = _freeze_the_sender(trials, sut, seed, pattern,
                                                      PauseFault(order="until_claimed"))
    history = result.history
    assert heal.get("claimed") is True, (
        f"no other executor gave the workflow a new owner while {paused.executor} was frozen "
        f"inside its recovery: {heal}")
    root = history.workflows[0]
    assert root.status == "SUCCESS", f"the workflow ended {root.status}"
    _paid_only_the_kill(result, sut, killed.at_ns, "a recovery resumed with what it read "
                        "before the workflow's new owner started it paid again")


def _paid_only_the_kill(result: TrialResult, sut: str, kill_ns: int, why: str) -> None:
    """With checkpointing, where bounded_waste is promised: nothing but the steps in flight at
    the kill was paid again."""
    sut_info = get_sut(sut)
    if not sut_info.checkpointing or "bounded_waste" not in sut_info.promises:
        return
    history, redundant = result.history, result.figures.redundant_tokens
    assert history.golden is not None and redundant is not None
    in_flight = steps_in_flight(history, kill_ns)
    bound = sum(history.golden.step_tokens.get(s, 0) for s in in_flight)
    assert 0 <= redundant <= bound, (
        f"{redundant} redundant tokens; the steps in flight at the kill ({sorted(in_flight)}) "
        f"were worth {bound}: {why}")


def test_a_claimer_frozen_inside_its_claim_holds_nothing(trials: TrialRunner, sut: str,
                                                         seed: int) -> None:
    """The owner is killed; on the slow link, the standby whose claim arrives first is frozen
    (SIGSTOP) before the claim's answer reaches it: mid-claim, its transaction open. It stays
    frozen until another worker claimed the workflow (a hung host may never come back): the
    other standby must get it within the takeover timeout, however the frozen claim held it."""
    _needs_postgres(sut)
    claim = get_sut(sut).describe().claim_poll
    if claim is None:
        pytest.skip(f"{sut} declares no claim poll (SutDescription.claim_poll): its takeovers "
                    "are not a standby's claim")
    result, _, paused, heal = _freeze_the_sender(
        trials, sut, seed, claim,
        PauseFault(order="until_claimed", takeover_timeout_s=FROZEN_CLAIM_S))
    history = result.history
    assert heal.get("claimed") is True, (
        f"the workflow waited {FROZEN_CLAIM_S:g} s for {paused.executor}, frozen inside its "
        f"claim ({paused.detail.get('statement')!r}), and no other worker took it: {heal}")
    assert history.workflows[0].status == "SUCCESS", history.workflows[0]


def _freeze_the_sender(trials: TrialRunner, sut: str, seed: int, pattern: str,
                       pause: PauseFault,
                       ) -> tuple[TrialResult, HarnessEvent, HarnessEvent, dict[str, JSONValue]]:
    """The owner killed mid-step; on the slow link, the worker whose statement matching
    ``pattern`` arrives first is paused (``pause``) before the statement's answer reaches it.
    Returns the valid result, the kill's and the pause's firings, and the pause's heal."""
    frozen = FollowUp(pause, when="statement", pattern=pattern, on_sender=True, overlap=True)
    spec = research_trial("recovery_fault", sut, KillFault(), CRASH, recovery="standby",
                          standbys=2, seed=seed, then=(SLOW_STORE_LINK, frozen))  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    firings = fault_firings(result.history)
    assert [f.detail.get("fault") for f in firings] == ["kill", "degrade", "pause"], firings
    killed, _, paused = firings
    assert paused.executor != killed.executor, (
        f"the pause hit the killed executor {killed.executor}, not a live one: {firings}")
    return result, killed, paused, _heal_of(result.history, 2)


def _needs_postgres(sut: str) -> None:
    if store_link(sut) != "postgres":
        pytest.skip(f"{sut}'s durable store is not Postgres ({store_link(sut)}): no statement "
                    "of its recovery crosses a Postgres link")


FROZEN_CLAIM_S = 25.0
"""How long a claimer frozen inside its claim may keep the others from the workflow."""


def _heal_of(history: History, index: int) -> dict[str, JSONValue]:
    healed = [e for e in history.events_of("fault_healed") if e.detail.get("index") == index]
    assert healed, f"fault {index} was never healed"
    return dict(healed[0].detail)
