"""partition: a link stops carrying data mid-workflow, through the Toxiproxy API.

- ``worker→postgres`` down for a while (the proxy disabled: connections reset, connects refused)
  and black-holed (timeout toxic): the worker retries with backoff and resumes — it must not
  crash-loop, so no worker dies;
- ``worker→provider`` cut while an LLM call is in flight: the provider bills the answer, the
  worker never gets it, retries after its client timeout and goes on.
"""

from __future__ import annotations

import pytest

from harness import PartitionFault, TrialRunner, get_sut, research_trial, worker_deaths

CASES = {
    "postgres_down": ("between_steps", PartitionFault(link="postgres", mode="down")),
    "postgres_blackhole": ("between_steps", PartitionFault(link="postgres", mode="timeout")),
    "provider_cut_mid_call": ("mid_step_late", PartitionFault(link="provider", mode="down")),
    "provider_blackhole_mid_call": (
        "mid_step_late", PartitionFault(link="provider", mode="timeout", duration_s=2.0),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_partition_is_ridden_out(trials: TrialRunner, sut: str, case: str, seed: int) -> None:
    crash, fault = CASES[case]
    spec = research_trial("partition", sut, fault, crash, seed=seed)
    result = trials.run(spec)
    trials.require_valid(result)
    assert not worker_deaths(result.history), "a partition must not make the worker crash"
    if fault.link == "provider" and get_sut(sut).checkpointing:
        golden, step = result.history.golden, spec.crash_step
        assert golden is not None and step is not None
        assert result.figures.redundant_tokens == golden.step_tokens[step], (
            "exactly the call whose answer was lost is paid twice"
        )
