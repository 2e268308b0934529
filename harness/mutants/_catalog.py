"""The catalog: one deliberately broken reference runtime per class of recovery bug (issue #24).

Each mutant undoes the one line a guarantee of ``reference_runtime`` rests on, and names the
scenario test meant to catch it. A mutant that its scenario misses is kept: it says which class
the suite does not yet see failing (docs/mutants.md lists the findings).
"""

from __future__ import annotations

from harness.mutants._mutant import Mutant, Patch

_PAUSE = "scenarios/test_pause.py"
_OUTAGE = "scenarios/test_shared_outage.py::test_a_shared_outage_takes_nobody_for_dead"

MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        name="outcome-unfenced",
        bug_class="zombie: unfenced outcome",
        description="the outcome write accepts any epoch not above the row's: a superseded "
                    "execution (a zombie past its last step) writes the workflow's outcome",
        patches=(Patch("_store.py",
                       "WHERE workflow_id = %s AND epoch = %s AND status = 'PENDING'",
                       "WHERE workflow_id = %s AND epoch >= %s AND status = 'PENDING'"),),
        catches=(f"{_PAUSE}::test_zombie_past_its_last_step_cannot_write_the_outcome"
                 "[reference-seed0]",),
    ),
    Mutant(
        name="step-unfenced",
        bug_class="zombie: unfenced step",
        description="a step record is accepted from any epoch not above the row's: a resumed "
                    "zombie records its late step after its replacement claimed",
        patches=(Patch("_store.py",
                       "FROM wf WHERE wf.status = 'PENDING' AND wf.epoch = %(epoch)s",
                       "FROM wf WHERE wf.status = 'PENDING' AND wf.epoch >= %(epoch)s"),),
        catches=(f"{_PAUSE}::test_paused_zombie_is_fenced[reference-seed0-mid_step_early]",),
    ),
    Mutant(
        name="effect-unannounced",
        bug_class="zombie: unfenced effect",
        description="a claim never announces its new epoch to the effect sink: a zombie's "
                    "effect is judged by its key alone, and one sent first is applied",
        patches=(Patch("_store.py",
                       "                announce(live)\n",
                       "                pass  # the new epochs are never announced\n"),),
        catches=(f"{_PAUSE}::test_zombie_past_its_last_step_cannot_apply_its_effect"
                 "[reference-seed0]",),
    ),
    Mutant(
        name="failed-step-rerun",
        bug_class="failed step replayed",
        description="replay skips a step recorded as failed for good: recovery runs it again "
                    "(and, the provider healed, takes another path)",
        patches=(Patch("_steps.py",
                       "    info = execution.recorded.get(seq)\n    if info is None:\n",
                       "    info = execution.recorded.get(seq)\n"
                       "    if info is None or info.error is not None:\n"),),
        catches=("scenarios/test_failed_step.py::test_failed_step_replays_its_failure"
                 "[reference-seed0]",),
    ),
    Mutant(
        name="reclaims-own-running",
        bug_class="recovery racing itself",
        description="the claim leaves out the workflows this worker is running only while "
                    "their lease is live: after an outage longer than the lease the claim loop "
                    "takes its own running workflow again and fences its live execution",
        patches=(Patch("_store.py",
                       "AND NOT (workflow_id = ANY(%(held)s))",
                       "AND NOT (workflow_id = ANY(%(held)s) AND lease_expires_at >= now())"),),
        catches=("scenarios/test_partition.py::test_postgres_outage_longer_than_the_lease"
                 "[reference-seed0-stall]",),
    ),
    Mutant(
        name="rolling-takes-predecessor",
        bug_class="old and new overlap",
        description="a process claims its executor id's workflows without holding the "
                    "executor lock: a rolling restart's new process takes its draining "
                    "predecessor's workflow mid-step",
        patches=(Patch("_store.py",
                       "OR (executor_id = %(me)s AND %(locked)s)",
                       "OR (executor_id = %(me)s)"),),
        catches=("scenarios/test_rolling_restart.py::"
                 "test_rolling_restart_hands_over_without_paying_twice"
                 "[reference-seed0-mid_step_late]",),
    ),
    Mutant(
        name="no-settle-after-outage",
        bug_class="shared outage",
        description="a worker that re-took its executor lock trusts missing locks at once: "
                    "the first one back after a Postgres restart takes live peers for dead",
        patches=(Patch("_liveness.py", "SETTLE_S = 5.0\n", "SETTLE_S = 0.0\n"),),
        catches=(f"{_OUTAGE}[reference-seed0-mid_step_late]",
                 f"{_OUTAGE}[reference-seed0-between_steps]"),
    ),
    Mutant(
        name="claim-retry-stale-trust",
        bug_class="fault during recovery",
        description="a claim retried across a lost connection keeps the trust it was asked "
                    "with before the outage, skipping the settling after the lock came back",
        patches=(Patch("_store.py",
                       "        def fresh() -> dict[str, Any]:\n"
                       "            return {**params, \"detect\": _asked(detect), "
                       "\"locked\": _asked(locked)}\n",
                       "        asked_once = {**params, \"detect\": _asked(detect), "
                       "\"locked\": _asked(locked)}\n\n"
                       "        def fresh() -> dict[str, Any]:\n"
                       "            return asked_once\n"),),
        catches=(f"{_OUTAGE}[reference-seed0-mid_step_late]",
                 f"{_OUTAGE}[reference-seed0-between_steps]"),
    ),
    Mutant(
        name="frozen-claim-holds",
        bug_class="work that never wakes",
        description="sessions have no idle-in-transaction bound: a worker frozen inside its "
                    "claim transaction keeps the claimed row locked, and the other workers' "
                    "claims skip it for as long as the freeze lasts",
        patches=(Patch("_db.py",
                       "        if self.idle_in_transaction_s is None:\n",
                       "        if True:  # no bound\n"),),
        catches=("scenarios/test_recovery_fault.py::"
                 "test_a_claimer_frozen_inside_its_claim_holds_nothing[reference-seed0]",),
    ),
    Mutant(
        name="abandoned-stays-held",
        bug_class="work that never wakes",
        description="an execution that ends without an outcome stays in its worker's held "
                    "set: the heartbeat renews its lease forever and no worker, its own "
                    "included, claims it again",
        patches=(Patch("_worker.py",
                       "                    del self._held[claim.workflow_id]\n",
                       "                    pass  # the claim is never let go\n"),),
        catches=("scenarios/test_long_outage.py::test_work_given_up_in_a_long_outage_wakes"
                 "[reference-seed0]",),
    ),
    Mutant(
        name="never-dead-letters",
        bug_class="dead letter",
        description="a workflow claimed more than max_recovery_attempts times stays PENDING: "
                    "one that kills every worker that runs it is retried forever",
        patches=(Patch("_store.py",
                       "THEN 'DEAD_LETTER' ELSE 'PENDING' END,",
                       "THEN 'PENDING' ELSE 'PENDING' END,"),),
        catches=("scenarios/test_poison.py::test_poison_is_given_up_and_others_served"
                 "[reference-seed0]",),
    ),
    Mutant(
        name="connect-timeout-fixed",
        bug_class="connect timeout",
        description="a connection attempt that timed out is retried with the same time: over a "
                    "link slower than the bound the worker never reconnects",
        patches=(Patch("_db.py",
                       "        return min(2 * timeout_s, CONNECT_GROWTH * "
                       "self.connect_timeout_s)\n",
                       "        return timeout_s\n"),),
        catches=("scenarios/test_degrade.py::test_reconnects_over_a_slow_link[reference-seed0]",),
    ),
    Mutant(
        name="claims-past-its-limit",
        bug_class="queue limit overrun",
        description="a worker counts one slot more than max_concurrency gives it: with a "
                    "limit of 1 it claims the workflow waiting behind its running one",
        patches=(Patch("_worker.py",
                       "free = self._opts.max_concurrency - self._active",
                       "free = self._opts.max_concurrency + 1 - self._active"),),
        catches=("scenarios/test_queue_limit.py::test_the_workflow_behind_a_faulted_one_runs"
                 "[reference-seed0-kill-per_worker-restart]",),
    ),
    Mutant(
        name="ignores-owner-lock",
        bug_class="takeover promise",
        description="the claim no longer looks whether the owner's executor lock is gone: a "
                    "standby takes over live owners (claim reason session_ended) at once",
        patches=(Patch("_store.py",
                       "AND NOT EXISTS (SELECT 1 FROM live WHERE live.objid = "
                       "hashtext(executor_id)::oid)))",
                       "AND true))"),),
        catches=("scenarios/test_standby_race.py::test_racing_standbys_take_over_once"
                 "[reference-seed0-mid_step_early]",),
    ),
)
"""Every mutant, in the order ``durabench mutants`` runs them (names are unique)."""
