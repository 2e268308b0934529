"""degrade: a sick link rather than a dead one.

- ``reset_peer`` on ``worker→postgres`` right as a step commits: the commit succeeds on the server
  but its acknowledgement is lost to a TCP reset. The step must not be recorded twice and the
  workflow ends with one outcome.
- ``latency`` on ``worker→postgres`` for the whole run: reports how the per-step overhead grows
  with the link's round-trip time (one round trip per step is the design).
"""

from __future__ import annotations

import itertools

import pytest

from harness.faults import DegradeFault
from harness.pytest_plugin import TrialRunner
from harness.scenario import SUITE_PARAMS, research_trial
from harness.sut import SUT_NAMES, get_sut
from harness.triggers import Trigger

LATENCIES_MS = (0, 25, 100)


@pytest.mark.parametrize("sut", SUT_NAMES)
def test_lost_commit_ack_records_once(trials: TrialRunner, sut: str, seed: int) -> None:
    # Armed when call 3 is delivered: the next bytes Postgres sends back (the ack of that step's
    # commit, among others) are dropped and the connection reset.
    reset = DegradeFault(toxic="reset_peer", link="postgres", attributes=(("timeout", 0),),
                         duration_s=0.3)  # fmt: skip
    armed = Trigger("delivered", call=3)
    spec = research_trial("degrade", sut, reset, "reset_on_commit", trigger=armed, crash_step=2,
                          seed=seed)  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    if get_sut(sut).checkpointing:
        recorded = [(s.name, s.step) for s in result.history.steps]
        assert len(recorded) == len(set(recorded)), f"a step was recorded twice: {recorded}"
        assert result.figures.redundant_tokens == 0, "a lost commit ack costs no LLM call"


@pytest.mark.parametrize("sut", SUT_NAMES)
def test_postgres_latency_overhead_grows_per_step(trials: TrialRunner, sut: str,
                                                 seed: int) -> None:  # fmt: skip
    durations = []
    for ms in LATENCIES_MS:
        slow = DegradeFault(toxic="latency", link="postgres", attributes=(("latency", ms),))
        spec = research_trial("degrade", sut, slow, f"pg_latency_{ms}ms",
                              trigger=Trigger("after", seconds=0.0), crash_step=0, seed=seed)
        result = trials.run(spec)
        trials.require_valid(result)
        assert result.figures.duration_s is not None
        durations.append(result.figures.duration_s)
    steps = SUITE_PARAMS.llm_calls + SUITE_PARAMS.turns + 1
    per_step_ms = [round((d - durations[0]) / steps * 1000, 1) for d in durations]
    print(f"{sut}: added per-step overhead at {LATENCIES_MS} ms link latency: {per_step_ms} ms")
    assert all(a < b for a, b in itertools.pairwise(durations)), (
        f"run time should grow with the link latency {LATENCIES_MS}: {durations}"
    )
