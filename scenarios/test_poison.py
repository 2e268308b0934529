"""poison: a workflow that kills every worker that runs it (a poison input, an OOM every time).

The poison fault (:class:`harness.PoisonFault`) lays a poison on the trial's workflow when its
step-1 LLM call arrives: from then on every execution of that workflow that reaches step 1's tool
SIGKILLs its own worker's process group, a real signal from a real process, whichever runtime
runs it. The recovery policy is ``restart`` (a pod restart, same executor id), so the runtime
retries the workflow the way it retries any workflow whose worker died, with the attempt limit
it states, set small here (``max_recovery_attempts=2``). Whatever the interleaving:

- the poisoned workflow ends in a terminal state that is not SUCCESS (reference, plain,
  LangGraph's lease loop, DBOS's MAX_RECOVERY_ATTEMPTS_EXCEEDED: DEAD_LETTER; Temporal: ERROR,
  the workflow fails once its activity's retries are spent), its outcome recorded once (the
  ``single_outcome`` checker, asserted here whether the SUT promises it or not);
- it was executed exactly as many times as the runtime states (counted from the provider's tool
  log: each execution announced step 1's tool before it died), and each of those executions
  cost a worker (``worker_exited``, died);
- a second, healthy workflow of the same workload, started once the poison's fate is recorded
  (``TrialSpec.bystander``), completes SUCCESS on the same, restarted worker;
- every promised verdict holds (the golden run has the bystander too, so the baseline covers both
  workflows; ``output_consistency`` judges the bystander and leaves out the poisoned root, which
  has no output).

Why the workload kills itself rather than a harness fault re-fired on every claim: a follow-up
fault anchored on a claim (``FollowUp(KillFault(), when="claimed")``) fires when the new owner
claims, not when it reaches the step, needs a fixed number of follow-ups known in advance (a
runtime that never gives up would simply outlast them), and cannot run on a SUT whose records
do not show claims (Temporal). The poison file goes with every replacement the supervisor
starts, needs no count, and kills at the same step every time, on every SUT. The OOM fault
would be as real but needs a memory cgroup, and it is consumed by the first allocation.

Why the bystander starts after the poison's outcome rather than beside it: a SIGKILL of the
process takes every workflow the worker runs, so a neighbour started alongside dies with the
poison at each attempt and spends its own recovery attempts (the reference runtime, DBOS and the
lease loops count them per workflow) -- whether it finishes before its budget is gone is a race
this scenario does not pin. Started after, it shows what the issue asks: the runtime gave up on
the poison and still serves the others.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness import (
    PoisonFault,
    TrialRunner,
    TrialSpec,
    Trigger,
    WorkerOptions,
    research_trial,
    worker_deaths,
)

pytestmark = [pytest.mark.xdist_group("poison"), pytest.mark.durabench_case_s(144)]

POISON_STEP = 1
"""The first step with a tool (step 0 plans, without one)."""
MAX_RECOVERY_ATTEMPTS = 2
OPTIONS = WorkerOptions(max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)

STATED_EXECUTIONS: dict[str, int] = {
    # reference_runtime: a claim past max_recovery_attempts recoveries dead-letters the workflow
    # (its first claim and max_recovery_attempts recoveries run)
    "reference": MAX_RECOVERY_ATTEMPTS + 1,
    "reference-nockpt": MAX_RECOVERY_ATTEMPTS + 1,
    "reference-resume": MAX_RECOVERY_ATTEMPTS + 1,
    # the lease loop (harness/sut/_lease_loop.py) runs with --max-attempts
    # max_recovery_attempts + 1 and dead-letters the claim after that
    "plain": MAX_RECOVERY_ATTEMPTS + 1,
    "langgraph": MAX_RECOVERY_ATTEMPTS + 1,
    "langgraph-nockpt": MAX_RECOVERY_ATTEMPTS + 1,
    # DBOS: @DBOS.workflow(max_recovery_attempts=N) runs the first execution and N recoveries,
    # then marks the workflow MAX_RECOVERY_ATTEMPTS_EXCEEDED
    "dbos": MAX_RECOVERY_ATTEMPTS + 1,
    # Temporal: the activity's retry policy, maximum_attempts = max(5, max_recovery_attempts)
    # (TemporalTimeouts.derive); the workflow fails once the activity's attempts are spent
    "temporal": max(5, MAX_RECOVERY_ATTEMPTS),
}
"""How many times each SUT states it runs a workflow whose every execution dies, under
``OPTIONS`` (where each adapter passes ``max_recovery_attempts`` to its runtime)."""


def poison_trial(sut: str, seed: int) -> TrialSpec:
    spec = research_trial("poison", sut, PoisonFault(step=POISON_STEP), "poisoned_step",
                          trigger=Trigger("received", step=POISON_STEP),
                          crash_step=POISON_STEP, options=OPTIONS, seed=seed)  # fmt: skip
    return replace(spec, bystander=True)


def test_poison_is_given_up_and_others_served(trials: TrialRunner, sut: str, seed: int) -> None:
    stated = STATED_EXECUTIONS.get(sut)
    if stated is None:
        pytest.skip(f"{sut} states no attempt limit this scenario knows of")
    result = trials.run(poison_trial(sut, seed))
    history = result.history
    poisoned, bystander = history.workflow_ids
    records = {w.workflow_id: w for w in history.workflows}

    record = records.get(poisoned)
    executions = [t for t in history.tools
                  if t.workflow_id == poisoned and t.step == POISON_STEP]  # fmt: skip
    assert record is not None and record.status in ("DEAD_LETTER", "ERROR", "CANCELLED"), (
        f"the runtime did not give up on the poisoned workflow: status "
        f"{record.status if record else 'no record'} after {len(executions)} executions "
        f"(stated limit: {stated}; max_recovery_attempts={MAX_RECOVERY_ATTEMPTS})")
    assert len(executions) <= stated, (
        f"the runtime ran the poisoned workflow {len(executions)} times, more than the "
        f"{stated} it states (max_recovery_attempts={MAX_RECOVERY_ATTEMPTS})")
    assert len(executions) == stated, (
        f"the runtime gave up after {len(executions)} executions, fewer than the {stated} it "
        f"states (max_recovery_attempts={MAX_RECOVERY_ATTEMPTS})")
    deaths = worker_deaths(history)
    assert len(deaths) == stated, (
        f"{len(deaths)} worker deaths for {stated} executions of the poison: every execution "
        f"must have cost its worker")

    outcomes = [o for o in history.outcomes if o.workflow_id == poisoned]
    assert outcomes and all(o.status == record.status for o in outcomes), (
        f"the poisoned workflow's outcome: record {record.status}, handles "
        f"{[o.status for o in outcomes]}")
    once = result.judgement.verdicts["single_outcome"]  # judged whether promised or not
    assert once.valid == "true", f"the poison's outcome was not recorded once: {once.details}"

    trials.require_valid(result)  # every promised verdict, after the properties above

    served = records.get(bystander)
    assert served is not None and served.status == "SUCCESS", (
        f"the runtime stopped serving other workflows after giving up on the poison: the "
        f"bystander is {served.status if served else 'not recorded'}")
