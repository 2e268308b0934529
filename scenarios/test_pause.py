"""pause: SIGSTOP the worker for longer than its lease, then SIGCONT — the zombie-worker case.

While the worker is stopped, the standby takes the workflow over. When the zombie resumes, the
LLM call it had in flight is answered and it tries to record the step and go on: the fencing
epoch must reject those late writes. Exactly one outcome, no effect applied twice, no two epochs
interleaving their writes.

The two modes differ in what the zombie costs. With checkpointing its first late write (the step
record) is fenced, so it makes no new LLM call. Without checkpointing nothing is written between
steps, so the zombie keeps calling the LLM until its outcome write is rejected — tokens that are
billed and counted as redundant.
"""

from __future__ import annotations

import pytest

from harness import PauseFault, TrialRunner, get_sut, research_trial


@pytest.mark.parametrize("crash", ["mid_step_early", "mid_step_late"])
def test_paused_zombie_is_fenced(trials: TrialRunner, sut: str, crash: str, seed: int) -> None:
    fault = PauseFault(duration_s=3.0)  # the suite's lease is 2 s
    result = trials.run(research_trial("pause", sut, fault, crash, recovery="standby", seed=seed))
    trials.require_valid(result)
    root = result.history.workflows[0]
    ledger_attempts = {e.attempt for e in result.history.trial_ledger()}
    assert root.epoch >= 2 and len(ledger_attempts) >= 2, (
        f"the standby should have taken over (epochs seen {sorted(ledger_attempts)})"
    )
    resumed_ns = result.history.healed_ns or 0
    zombie_calls = [e for e in result.history.trial_ledger()
                    if e.attempt == 1 and e.received_ns > resumed_ns]  # fmt: skip
    if get_sut(sut).checkpointing:
        assert not zombie_calls, "the zombie's step write is fenced before any new LLM call"
    else:
        redundant = result.figures.redundant_tokens or 0
        assert redundant >= sum(e.tokens for e in zombie_calls), (
            "whatever the unfenced zombie spends is billed and must be counted as redundant"
        )
