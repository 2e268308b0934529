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
goes that way: ``terminates`` false and nothing else false. Local environment only (the
statement log is the embedded Postgres's server log); a SUT whose store is not Postgres skips.
"""

from __future__ import annotations

import pytest

from harness import (
    DbCrashFault,
    FollowUp,
    KillFault,
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


def recovery_write(sut: str) -> str | None:
    """The pattern of ``sut``'s recovery's first write: its own claim poll, else ours above."""
    return get_sut(sut).describe().claim_poll or RECOVERY_WRITE.get(sut.split("==")[0])


@pytest.mark.parametrize("policy", ["restart", "standby"])
def test_kill_during_recovery(trials: TrialRunner, sut: str, policy: str, seed: int) -> None:
    # standby: two standbys, so one is left to finish once the first to claim is killed
    spec = research_trial("recovery_fault", sut, KillFault(), CRASH, recovery=policy,
                          standbys=2 if policy == "standby" else 1, seed=seed,
                          then=(FollowUp(KillFault(), when="claimed"),))  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    history, fig = result.history, result.figures
    firings = fault_firings(history)
    assert len(firings) == 2, f"expected two kills, saw {len(firings)}: {firings}"
    second = firings[1]
    assert second.executor == second.detail.get("owner"), (
        f"the second kill hit {second.executor}, not the owner that claimed: {second.detail}")
    epoch = history.workflows[0].epoch
    assert epoch >= 3, f"two kills need a third execution to finish: final epoch {epoch}"
    sut_info = get_sut(sut)
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
    if store_link(sut) != "postgres":
        pytest.skip(f"{sut}'s durable store is not Postgres ({store_link(sut)}): no statement "
                    "of its recovery crosses a Postgres link")
    pattern = recovery_write(sut)
    if pattern is None:
        pytest.skip(f"this scenario does not know what {sut}'s recovery first writes")
    crash = FollowUp(DbCrashFault(), when="statement", pattern=pattern)
    spec = research_trial("recovery_fault", sut, KillFault(), CRASH, recovery=policy,
                          seed=seed, then=(crash,))  # fmt: skip
    result = trials.run(spec)
    finding = known_finding(sut, "recovery_fault", f"store_restarts_{policy}")
    if finding is not None and result.valid != "true":
        xfail_known_unfinished(result, sut, finding)
    trials.require_valid(result)
    history, fig = result.history, result.figures
    firings = fault_firings(history)
    assert [f.detail.get("fault") for f in firings] == ["kill", "db_crash"], (
        f"expected a kill, then a Postgres crash: {firings}")
    assert firings[1].detail.get("anchor") == "statement", firings[1].detail
    root = history.workflows[0]
    assert root.status == "SUCCESS", (
        f"the recovery did not survive the Postgres crash it began with: {root.status} "
        f"(crashed as {firings[1].detail.get('statement')!r} arrived)")
    sut_info = get_sut(sut)
    if not sut_info.checkpointing or "bounded_waste" not in sut_info.promises:
        return
    golden = history.golden
    assert golden is not None and fig.redundant_tokens is not None
    in_flight = steps_in_flight(history, firings[0].at_ns)
    bound = sum(golden.step_tokens.get(s, 0) for s in in_flight)
    assert 0 <= fig.redundant_tokens <= bound, (
        f"{fig.redundant_tokens} redundant tokens; the steps in flight at the kill "
        f"({sorted(in_flight)}) were worth {bound}: the crash during recovery cost more")
