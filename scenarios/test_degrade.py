"""degrade: a sick link rather than a dead one.

- ``reset_peer`` on ``worker→postgres`` right as a step commits: the commit succeeds on the server
  but its acknowledgement is lost to a TCP reset. The step must not be recorded twice and the
  workflow ends with one outcome.
- ``latency`` on ``worker→postgres`` for the whole run: reports how the per-step overhead grows
  with the link's round-trip time (one round trip per step is the design).
"""

from __future__ import annotations

import itertools

from harness import SUITE_PARAMS, DegradeFault, TrialRunner, Trigger, get_sut, research_trial

LATENCIES_MS = (0, 25, 100)


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


def _durations(trials: TrialRunner, sut: str, seed: int) -> list[float]:
    durations = []
    for ms in LATENCIES_MS:
        slow = DegradeFault(toxic="latency", link="postgres", attributes=(("latency", ms),))
        spec = research_trial("degrade", sut, slow, f"pg_latency_{ms}ms",
                              trigger=Trigger("after", seconds=0.0), crash_step=0, seed=seed)
        result = trials.run(spec)
        trials.require_valid(result)
        assert result.figures.duration_s is not None
        durations.append(result.figures.duration_s)
    return durations


def test_postgres_latency_is_paid_per_checkpoint(trials: TrialRunner, sut: str, seed: int) -> None:
    """Each checkpoint is one round trip, so a slow Postgres link slows a checkpointing run step
    by step; without checkpointing (its twin) the run makes a handful of round trips in all."""
    twin = trials.twin_of(sut)
    steps = SUITE_PARAMS.llm_calls + SUITE_PARAMS.turns + 1
    added: dict[str, list[float]] = {}
    for name in (sut, twin):
        durations = _durations(trials, name, seed)
        added[name] = [d - durations[0] for d in durations]
        per_step = [round(a / steps * 1000, 1) for a in added[name]]
        print(f"{name}: added time per step at {LATENCIES_MS} ms link latency: {per_step} ms")
    ckpt, nockpt = added[sut], added[twin]
    assert all(a < b for a, b in itertools.pairwise(ckpt)), (
        f"a checkpointing run should slow down with the link latency {LATENCIES_MS}: {ckpt}"
    )
    assert ckpt[-1] > nockpt[-1] + 0.5 * steps * LATENCIES_MS[-1] / 1000, (
        f"at {LATENCIES_MS[-1]} ms, checkpointing should pay about one round trip per step more "
        f"than no checkpointing: added {ckpt[-1]:.2f}s vs {nockpt[-1]:.2f}s"
    )
