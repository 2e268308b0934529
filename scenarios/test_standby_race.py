"""standby race: three standbys beside the worker, all claiming; the worker is killed mid-step.

Four live workers poll the same store from the start, so every claim of the workflow — the first
one and the takeover once the killed worker's lease expires — is raced by the others
(``FOR UPDATE SKIP LOCKED`` in the reference runtime). Whatever the interleaving:

- every promised verdict holds (one outcome, no replayed step, waste within the in-flight step);
- no superseded execution's write lands after the takeover (property 7);
- no claim supersedes a worker that is alive and was never faulted: only the killed worker's
  execution may be taken over, once (a lost claim race must not steal a healthy owner's work);
- with checkpointing the killed step is the only one paid twice where bounded_waste is promised;
  elsewhere (LangGraph writes a step's record in the background, so a kill right after a step
  may lose it) no more than a restart from zero would pay.
"""

from __future__ import annotations

import pytest

from harness import (
    KillFault,
    TrialRunner,
    get_sut,
    research_trial,
    superseded_writes,
    unprovoked_takeovers,
)

pytestmark = [pytest.mark.xdist_group("standby_race"), pytest.mark.durabench_case_s(8)]

STANDBYS = 3


@pytest.mark.parametrize("crash", ["mid_step_early", "mid_step_late"])
def test_racing_standbys_take_over_once(trials: TrialRunner, sut: str, crash: str,
                                        seed: int) -> None:  # fmt: skip
    spec = research_trial("standby_race", sut, KillFault(), crash, recovery="standby",
                          standbys=STANDBYS, seed=seed)  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    history = result.history
    executors = {e.executor for e in history.events_of("worker_started")}
    assert len(executors) == STANDBYS + 1, f"expected {STANDBYS + 1} live workers: {executors}"
    assert not unprovoked_takeovers(history), unprovoked_takeovers(history)
    epoch = history.workflows[0].epoch
    assert epoch == 2, f"one takeover (of the killed worker) and no other: final epoch {epoch}"
    if get_sut(sut).checkpointing:
        assert not superseded_writes(history), superseded_writes(history)
        golden = history.golden
        assert golden is not None and spec.crash_step is not None
        redundant = result.figures.redundant_tokens
        assert redundant is not None
        if "bounded_waste" in get_sut(sut).promises:
            assert redundant <= golden.step_tokens[spec.crash_step], (
                f"only the killed step may be paid twice: {redundant} redundant tokens"
            )
        else:
            from_zero = sum(t for step, t in golden.step_tokens.items() if step <= spec.crash_step)
            assert redundant <= from_zero, (
                f"checkpointing wasted more than a restart from zero would: {redundant} > "
                f"{from_zero} redundant tokens"
            )
