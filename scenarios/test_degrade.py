"""degrade: a sick link rather than a dead one — a commit whose acknowledgement is lost.

The ``worker→postgres`` link delays every answer (a ``latency`` toxic) while the harness watches
the store; once the write it aims at has committed, a ``reset_peer`` toxic turns its still
in-flight acknowledgement into a TCP reset (``harness/faults/ack_loss.py``). The writer must retry
and its retry must find its own write: the step is recorded once, no LLM call is made again, and
the workflow ends with one outcome. With checkpointing the write is the step record that follows
LLM call 3 (logical step 2); without it, the workflow's outcome write after its last call.

How the per-step overhead grows with the link's latency is a timing figure, not a verdict: it is
measured by ``benchmarks/postgres_latency.py``.

The link is the one to the SUT's durable store (``store_link``): ``worker→postgres``, or the link
to the SUT's own server when that is its store (Temporal: the activity's completion is the write).
"""

from __future__ import annotations

import pytest

from harness import (
    SUITE_PARAMS,
    AckLossFault,
    TrialRunner,
    Trigger,
    get_sut,
    research_trial,
    store_link,
    worker_deaths,
)

pytestmark = pytest.mark.xdist_group("degrade")


def test_lost_commit_ack_records_once(trials: TrialRunner, sut: str, seed: int) -> None:
    checkpointing = get_sut(sut).checkpointing
    call = 3 if checkpointing else SUITE_PARAMS.llm_calls
    fault = AckLossFault(mode="reset", write="step" if checkpointing else "outcome",
                         link=store_link(sut))
    spec = research_trial("degrade", sut, fault, f"reset_on_{fault.write}_commit",
                          trigger=Trigger("received", call=call), crash_step=call - 1,
                          seed=seed)  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    assert not worker_deaths(result.history), "a lost acknowledgement must not crash the worker"
    assert result.figures.redundant_tokens == 0, (
        f"a lost commit ack costs no LLM call, but {result.figures.redundant_tokens} redundant "
        "tokens were billed: the writer's retry did not find its own committed write"
    )
    if checkpointing:
        recorded = [(s.name, s.step) for s in result.history.steps]
        assert len(recorded) == len(set(recorded)), f"a step was recorded twice: {recorded}"
        golden = result.history.golden
        assert golden is not None
        llm = [s for s in result.history.steps if s.kind == "llm"]
        assert len(llm) == len(golden.step_tokens), "every LLM step recorded exactly once"
