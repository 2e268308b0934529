"""failed step: a step that failed for good, whose failure the workflow handled, then a crash.

The trial's world (in the golden run too) has the provider fail every LLM call of turn 2 with a
503 until the workflow moves on (``setup_rules``): the step exhausts its retries and fails for
good, and the agent (``handle_failed_turns``) notes the failure and goes on without that turn.
The worker is killed at turn 3's LLM call; by then the provider has healed, so a call of turn 2
would now succeed. Recovery must replay the recorded failure, not run the step again: the
workflow takes the same path as before the crash (``failed_turns == [2]``, as in the golden run)
and no LLM call of turn 2 is made after the fault. A runtime that re-executes an errored step
takes the other path (turn 2 succeeds, its tool runs) or pays for the call again.

A checkpointing SUT that lists ``failed_step`` among its known findings (``describe()``) is
expected to run the failed step again: the run must show it, and is reported as an xfail with
the SUT's explanation.

Without checkpointing the whole workflow runs again after the crash and, the provider healed,
succeeds at turn 2: a different path is what checkpointing off means, so only the verdicts are
asserted for such a SUT.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness import (
    SUITE_PARAMS,
    KillFault,
    ProviderRule,
    TrialRunner,
    Trigger,
    get_sut,
    research_trial,
)

pytestmark = [pytest.mark.xdist_group("failed_step"), pytest.mark.durabench_case_s(84)]

FAILING_TURN = 2
PARAMS = replace(SUITE_PARAMS, handle_failed_turns=True)
FAILS_FOR_GOOD = ProviderRule("fail", step=FAILING_TURN, status=503, count=1000)


def test_failed_step_replays_its_failure(trials: TrialRunner, sut: str, seed: int) -> None:
    spec = replace(research_trial("failed_step", sut, KillFault(), "killed_after_failed_turn",
                                  trigger=Trigger("received", step=FAILING_TURN + 1),
                                  crash_step=FAILING_TURN + 1, params=PARAMS, seed=seed),
                   setup_rules=(FAILS_FOR_GOOD,))  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS", f"the workflow handles the failed turn: {root.status}"
    if not get_sut(sut).checkpointing:
        return
    fault_at = history.fault_at_ns
    assert fault_at is not None
    again = [e for e in history.trial_ledger()
             if e.step == FAILING_TURN and e.received_ns > fault_at]  # fmt: skip
    finding = get_sut(sut).describe().known_findings.get("failed_step")
    if finding is not None:
        # A known finding of the SUT (listed with its explanation in every report): it must
        # still reproduce, else the finding is stale and this run says so.
        assert again, f"{sut}'s known finding did not reproduce (remove it): {finding}"
        pytest.xfail(f"known finding of {sut}: {finding}")
    assert root.output.get("failed_turns") == [FAILING_TURN], (
        f"after recovery the workflow took another path than before the crash: {root.output}"
    )
    assert not again, f"the failed step ran again after recovery: {len(again)} call(s)"
