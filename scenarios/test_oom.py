"""oom: the worker runs in a memory cgroup and its tool turns memory-hungry partway through; the
kernel OOM-kills it (verified from the cgroup's own counter) and a replacement finishes the work:
a restarted worker, or a standby that takes over as soon as the dead worker's session ends.

Skips with the reason where no memory cgroup can be created; fails instead when
``DURABENCH_REQUIRE`` contains ``oom``.
"""

from __future__ import annotations

import pytest

from harness import (
    SUITE_PARAMS,
    OomFault,
    TrialRunner,
    Trigger,
    get_sut,
    research_trial,
    worker_deaths,
)

pytestmark = [pytest.mark.xdist_group("oom"), pytest.mark.durabench_case_s(7)]

TOOL_STEPS = (1, SUITE_PARAMS.turns)
"""The tool of the first and of the last turn turns memory-hungry."""


@pytest.mark.parametrize("policy", ["restart", "standby"])
@pytest.mark.parametrize("step", TOOL_STEPS)
def test_oom_kill_recovers(
    trials: TrialRunner, sut: str, step: int, policy: str, seed: int
) -> None:
    # Armed when the turn's LLM answer is delivered: the tool that follows allocates (only one
    # worker does: the tool removes the arm file first, so a standby's replay is not OOM-killed).
    trigger = Trigger("delivered", call=step + 1)
    result = trials.run(research_trial("oom", sut, OomFault(), f"tool_step_{step}",
                                       trigger=trigger, crash_step=step, recovery=policy,
                                       seed=seed))  # fmt: skip
    trials.require_valid(result)
    died = worker_deaths(result.history)
    assert died and died[0].oom_killed, f"expected a kernel OOM kill, got {died}"
    redundant = result.figures.redundant_tokens
    if "bounded_waste" in get_sut(sut).promises:
        assert redundant == 0, "the LLM step was recorded before the tool"
    elif get_sut(sut).checkpointing:
        # A SUT that writes a step's record in the background (LangGraph) may lose the LLM
        # step's record to a kill that lands in the tool right after it: that one call, no more.
        golden = result.history.golden
        assert golden is not None and redundant is not None
        assert redundant <= golden.step_tokens[step], (
            f"more than the turn's LLM call was paid twice: {redundant} redundant tokens"
        )
    else:
        assert redundant and redundant > 0
