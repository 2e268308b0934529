"""oom: the worker runs in a memory cgroup and its tool turns memory-hungry partway through; the
kernel OOM-kills it (verified from the cgroup's own counter) and a replacement finishes the work.

Skips with the reason where no memory cgroup can be created; fails instead when
``DURABENCH_REQUIRE`` contains ``oom``.
"""

from __future__ import annotations

import pytest

from harness.faults import OomFault
from harness.pytest_plugin import TrialRunner
from harness.scenario import SUITE_PARAMS, research_trial, worker_deaths
from harness.sut import SUT_NAMES, get_sut
from harness.triggers import Trigger

pytestmark = pytest.mark.xdist_group("oom")

TOOL_STEPS = (1, SUITE_PARAMS.turns)
"""The tool of the first and of the last turn turns memory-hungry."""


@pytest.mark.parametrize("step", TOOL_STEPS)
@pytest.mark.parametrize("sut", SUT_NAMES)
def test_oom_kill_recovers(trials: TrialRunner, sut: str, step: int, seed: int) -> None:
    # Armed when the turn's LLM answer is delivered: the tool that follows allocates.
    trigger = Trigger("delivered", call=step + 1)
    result = trials.run(research_trial("oom", sut, OomFault(), f"tool_step_{step}",
                                       trigger=trigger, crash_step=step, seed=seed))  # fmt: skip
    trials.require_valid(result)
    died = worker_deaths(result.history)
    assert died and died[0].oom_killed, f"expected a kernel OOM kill, got {died}"
    if get_sut(sut).checkpointing:
        assert result.figures.redundant_tokens == 0, "the LLM step was recorded before the tool"
    else:
        assert result.figures.redundant_tokens and result.figures.redundant_tokens > 0
