"""long outage: the store is out for longer than the runtime rides an outage out, mid-step.

A runtime retries a lost store for a while (the reference runtime's ``db_retry_s``, 60 s by
default); past that window the execution gives up: it cannot write an outcome, so it writes none,
and the workflow stays PENDING for a later claim. Every other outage of the suite is shorter than
such a window, so none shows whether that later claim ever comes: a worker that still counts the
given-up execution as running renews its lease and never claims it again, and the workflow
sleeps forever (``docs/mutants.md``, "work that never wakes").

Order: the window is made short (``WorkerOptions.store_retry_s`` = :data:`WINDOW_S`, mapped by the
SUT onto its own setting); the worker's second-to-last LLM call is held at the provider
(``mid_step_late``); the worker's link to its store is cut (``down``: connections reset, connects
refused at once, so every retry fails fast) and the call answered at once, so the step's record
write meets the dead store right away and gives up after the window; the link stays cut for
:data:`OUTAGE_S`, 2.5 windows: the store is still away when the execution gives up, and
answers again well before the trial's bound. The worker lives throughout: nothing restarts it.

Asserted: every promised verdict (``terminates`` is the one a workflow left asleep breaks), no
worker dies, and, where the SUT keeps a claim log (``ReportsClaims``), the premise: the workflow
was claimed again after the fault fired -- its execution did give up, the case under test.

A SUT that has no store retry window the harness can set (``SutDescription.store_retry``: DBOS
blocks on its store without a deadline, a Temporal worker keeps calling its server, the plain
loop fails the job instead) skips with its own reason.
"""

from __future__ import annotations

import pytest

from harness import (
    PartitionFault,
    TrialRunner,
    WorkerOptions,
    get_sut,
    research_trial,
    store_link,
    worker_deaths,
)

pytestmark = [pytest.mark.xdist_group("long_outage"), pytest.mark.durabench_case_s(84)]

WINDOW_S = 4.0
"""The store retry window the trial sets: how long an execution rides the outage out."""
OUTAGE_S = 2.5 * WINDOW_S
"""The store's outage: the execution gives up ``WINDOW_S`` after its write first failed (at the
cut, a moment after it), and the store stays away 1.5 windows longer: a give-up that a loaded
machine delays by seconds still comes before the heal."""
OPTIONS = WorkerOptions(store_retry_s=WINDOW_S)


def test_work_given_up_in_a_long_outage_wakes(trials: TrialRunner, sut: str, seed: int) -> None:
    window = get_sut(sut).describe().store_retry
    if not window.settable:
        pytest.skip(f"{sut}: {window.how}")
    # The LLM timeout outlasts the held call: the call is answered, not retried.
    fault = PartitionFault(link=store_link(sut), mode="down", duration_s=OUTAGE_S,
                           llm_timeout_s=30.0)  # fmt: skip
    result = trials.run(research_trial("long_outage", sut, fault, "mid_step_late", seed=seed,
                                       options=OPTIONS))  # fmt: skip
    trials.require_valid(result)
    history = result.history
    assert not worker_deaths(history), "the worker stays alive through the outage"
    if not history.claims:
        return  # no claim log: the outage's length is the premise
    fired = history.events_of("fault_fired")[0].at_ns
    root = history.workflow_ids[0]
    again = [c for c in history.claims if c.workflow_id == root and c.claimed_ns > fired]
    assert again, (
        f"{root} was never claimed after the fault: its execution rode out an outage of "
        f"{OUTAGE_S:g}s with a store retry window of {WINDOW_S:g}s, so this trial did not test "
        "work given up in an outage"
    )
