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
"""

from __future__ import annotations

import pytest

from harness import (
    FollowUp,
    KillFault,
    TrialRunner,
    fault_firings,
    get_sut,
    research_trial,
    steps_in_flight,
    steps_reached,
)

pytestmark = pytest.mark.xdist_group("recovery_fault")

CRASH = "mid_step_late"


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
