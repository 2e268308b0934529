"""duplicate recovery: the same dead executor recovered twice at once.

A supervisor that retries, two supervisors, or a supervisor beside an operator's manual recovery
can each ask a live executor to recover the same dead one, at the same moment. The runtime's
recovery must be idempotent: one of them takes the workflow, the other finds nothing left to
take, and the workflow runs once.

The worker is SIGKILLed late in an LLM step (``mid_step_late``) under ``supervised`` with two
standbys, and the supervisor asks both to recover the dead executor concurrently
(``Recovery.handovers=2``, a thread each, started together). Asserted, whatever the
interleaving:

- every promised verdict holds (``single_active_execution`` and ``bounded_waste`` above all:
  a recovery that runs the workflow beside another's pays its steps twice);
- the workflow succeeds, and both hand-overs were asked, concurrently.

Only for a SUT whose takeovers are a supervisor's hand-over (``RecoversExecutors``: DBOS, as
Conductor recovers a dead executor); one whose standbys claim by themselves races its claims in
one statement instead (``test_standby_race.py``) and skips.
"""

from __future__ import annotations

import pytest

from harness import KillFault, TrialRunner, get_sut, research_trial

pytestmark = [pytest.mark.xdist_group("duplicate_recovery"), pytest.mark.durabench_case_s(20)]


def test_a_dead_executor_recovered_twice_at_once(trials: TrialRunner, sut: str,
                                                 seed: int) -> None:
    policies = get_sut(sut).recovery_policies
    if "standby" in policies or "supervised" not in policies:
        pytest.skip(f"{sut}'s standbys claim by themselves (no supervisor hands its work over): "
                    "racing claims are test_standby_race's")
    result = trials.run(research_trial("duplicate_recovery", sut, KillFault(), "mid_step_late",
                                       recovery="standby", standbys=2, handovers=2,
                                       seed=seed))  # fmt: skip
    trials.require_valid(result)
    history = result.history
    status = {w.workflow_id: w.status for w in history.workflows}
    assert status.get(history.workflow_ids[0]) == "SUCCESS", status
    asked = history.events_of("supervisor_recovered")
    assert len(asked) == 2 and all(e.detail.get("concurrent_with") for e in asked), (
        f"the supervisor should have asked two executors at once: {asked}")
