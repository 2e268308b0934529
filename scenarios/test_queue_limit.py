"""queue limit: a workflow faulted on a queue with a concurrency limit, a second one behind it.

Teams put agent workflows on a queue with a concurrency limit (a rate-limited model account, a
tool that takes one caller at a time). A runtime counts a running workflow against the limit
until it finishes; a workflow whose worker died is still counted until a recovery puts it back
on the queue. That is where work stops waking: a recovered workflow left running under no one,
or a slot never given back, holds the queue, and every workflow behind it waits forever. A
recovery that runs the workflow outside its queue overruns the limit instead.

Each trial starts the workflow, then at once a second one on the same queue (the bystander,
``TrialSpec.behind``): with a limit of 1 it waits behind the first. The first is faulted in
its next-to-last LLM call (``mid_step_late``). The limit is either the queue's across every worker
(``queue_concurrency``) or each worker's (``worker_concurrency``), each where the SUT
has it. Asserted, whatever the
interleaving:

- every promised verdict holds for both workflows (``terminates`` above all: the one behind
  finishes too, and within its bound of the heal);
- both succeed;
- the limit held: never more workflows running at once than it allows, across the workers or
  within one executor id, as the provider saw their LLM calls (:func:`harness.queue_overruns`).

A SUT whose queue takes no concurrency limit the harness can set (``SutDescription.queue_limits``)
skips with its own reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import pytest

from harness import (
    DbCrashFault,
    Fault,
    KillFault,
    TrialRunner,
    WorkerOptions,
    get_sut,
    queue_overruns,
    research_trial,
)

pytestmark = [pytest.mark.xdist_group("queue_limit"), pytest.mark.durabench_case_s(25)]

LIMITS = {
    "across_workers": WorkerOptions(queue_concurrency=1),
    "per_worker": WorkerOptions(worker_concurrency=1),
}
CASES = [
    pytest.param("per_worker", KillFault(), "restart", id="kill-per_worker-restart"),
    pytest.param("per_worker", KillFault(), "standby", id="kill-per_worker-standby"),
    pytest.param("across_workers", KillFault(), "restart", id="kill-across_workers-restart"),
    pytest.param("across_workers", KillFault(), "standby", id="kill-across_workers-standby"),
    pytest.param("across_workers", DbCrashFault(down_s=2.0), "restart",
                 id="db_crash-across_workers"),
]


@pytest.mark.parametrize(("limit", "fault", "recovery"), CASES)
def test_the_workflow_behind_a_faulted_one_runs(trials: TrialRunner, sut: str, seed: int,
                                                limit: Literal["per_worker", "across_workers"],
                                                fault: Fault,
                                                recovery: str) -> None:  # fmt: skip
    limits = get_sut(sut).describe().queue_limits
    if not limits.settable(limit):
        pytest.skip(f"{sut}: no {limit} limit: {limits.how}")
    spec = research_trial("queue_limit", sut, fault, "mid_step_late", recovery=recovery,
                          seed=seed, options=LIMITS[limit])  # fmt: skip
    result = trials.run(replace(spec, bystander=True, behind=True))
    trials.require_valid(result)
    history = result.history
    status = {w.workflow_id: w.status for w in history.workflows}
    assert [status.get(wf) for wf in history.workflow_ids] == ["SUCCESS", "SUCCESS"], (
        f"both workflows of the queue should succeed: {status}")
    overruns = queue_overruns(history, 1, per_executor=limit == "per_worker")
    assert not overruns, f"the queue's {limit} limit of 1 was overrun: {overruns}"
    if not get_sut(sut).checkpointing:
        return
    started = {e.workflow_id for e in history.ledger if e.workflow_id is not None}
    assert set(history.workflow_ids) <= started, "both workflows ran their loop"
