"""What the DBOS SUT tells a reader about itself (``durabench suts``, reports): its notes
and the known findings, kept apart from the adapter's code."""

from __future__ import annotations

from collections.abc import Mapping

from harness.sut.dbos import APP_VERSION, HEARTBEAT_S
from harness.sut.dbos._features import DbosFeatures

DETECTION_NOTE = (
    "supervised: the harness plays DBOS Conductor's documented role; after detection_delay_s "
    "(the trial's Recovery.detection_delay_s, default 2 s; Conductor's default executor timeout "
    "is 60 s) past a worker's exit it asks a live executor to run DBOS's own recovery, "
    "DBOS._recover_pending_workflows([dead executor]), as Conductor has a live executor do (the "
    "request and its answer go through a table of the trial database, the stand-in for "
    "Conductor's channel); when the recovery raises or the executor does not answer within "
    "10 s, it asks again a second later, the next live executor in turn"
)

NOTES: tuple[str, ...] = (
    "deployed as DBOS's self-hosting docs describe: executor id from config (DBOS__VMID), "
    f"application_version pinned ({APP_VERSION}), system database on the trial's Postgres, "
    "portable JSON serializer; workflows enqueued on one DBOS queue polled every poll_s",
    "promises (DBOS docs, 'Concurrent executions'): workflows run to completion from their last "
    "completed step, steps at least once, outcomes exactly once; a concurrent execution is "
    "detected when it checkpoints a step or records its outcome",
    "restart: a replacement with the same executor id recovers its PENDING workflows on launch "
    "(DBOS startup recovery); delayed: the same after delay_s",
    DETECTION_NOTE,
    "standby (a second worker, no supervisor) is not a DBOS deployment: DBOS never takes over "
    "another executor's workflows by itself (they stay PENDING until Conductor or a recovery "
    "call acts), so scenarios asking for a takeover run dbos under 'supervised'",
    "the supervisor declares an executor dead detection_delay_s after its process exits, or "
    f"once it has not heard the worker's heartbeat (every {HEARTBEAT_S} s through the "
    "worker->postgres link, the stand-in for Conductor's connection) for detection_delay_s: "
    "a frozen or cut-off worker is taken over, as Conductor would",
    "SIGTERM: DBOS installs no signal handler; the worker calls DBOS.destroy("
    "workflow_completion_timeout_sec=grace_s) as DBOS's docs describe, then exits 0; "
    "destroy waits for whole workflows (not only the running step) and keeps them running, so "
    "a short workflow may finish inside the grace period; one still running stays PENDING for "
    "the next worker with the same executor id (or the supervisor's hand-over)",
    "a zombie finishes the step body it is in, then is stopped when it tries to checkpoint "
    "(the owner check of DBOS's step write); LLM calls it made are waste, not a breach",
    "retries: llm and effect steps 5 attempts (0.2 s, x2 backoff), tool 3; max_recovery_attempts "
    "from WorkerOptions",
    "other releases (--sut dbos==X, from 2.14.0): the pinned release's own DBOSClient starts "
    "workflows and its workers run its own recovery; before 3.2.0 a step's epoch is read by "
    "executor id, not by the execution's ownership token (weaker single_active_execution "
    "evidence); before 3.0.0 the migrations create the uuid-ossp extension, so the run's "
    "Postgres is a local one with contrib (`apt-get install -y postgresql postgresql-contrib`, or "
    "DURABENCH_POSTGRES_BIN)",
)



def release_notes(features: DbosFeatures) -> tuple[str, ...]:
    """What differs on a pinned release before DBOS 3.2.0 (besides the epoch's weaker read)."""
    notes = [f"dbos {features.version}: the harness starts workflows through this release's "
             "own DBOSClient, in its own interpreter; its workers run the release's own recovery"]
    if not features.reenqueue_recovery:
        notes.append(
            "before DBOS 2.29.0 recovery puts a queued workflow back on its queue "
            "(clear_queue_assignment, with no check of the executor that holds it) and runs any "
            "other workflow (a fan_out child) on the recovering executor itself: a recovery "
            "acting on a stale read of the pending workflows takes a workflow back from the "
            "executor a later recovery gave it to, and it runs twice "
            "(recovery_fault::test_a_stale_recovery_takes_nothing_from_the_new_owner fails "
            "single_active_execution and bounded_waste)")
    if not features.recovery_write_retried:
        notes.append(
            "before DBOS 2.24.0 recovery's write of a queued workflow is not retried when the "
            "system database connection is lost: the recovery loop logs the error and goes on, "
            "and the workflow stays PENDING under the dead executor "
            "(recovery_fault::test_store_restarts_inside_recovery fails terminates under standby)")
    if features.uuid_ossp:
        notes.append(
            "before DBOS 3.0.0 the migrations create the uuid-ossp extension: the trial's "
            "Postgres is a local one with contrib (versions.postgres on each results line)")
    return tuple(notes)


KNOWN_FINDINGS: Mapping[str, str] = {
    "rolling_restart::mid_step_late": (
        "DBOS's launch-time recovery takes every PENDING workflow of its executor id, with no "
        "check that another process of that id still runs it: in a rolling restart that keeps "
        "the executor id (DBOS__VMID, or executor_id in the config) the new process re-runs the "
        "workflow its draining predecessor is in, and the step in flight (an LLM call) is paid "
        "twice. Within DBOS's stated contract (steps are at least once; its 'Concurrent "
        "Executions' page names rollouts), so no promised verdict breaks. Checked here: the new "
        "process ready first, then SIGTERM with a 10 s grace period while the call of step 4 "
        "was held: 923 redundant tokens, the in-flight call. Give each process its own "
        "executor id, or let the old process exit before the new one launches"
    ),
    "rolling_restart::between_steps": (
        "the same launch-time recovery, between steps: a race by design. When the new process "
        "launches while its predecessor is still running the workflow's next steps, it re-runs "
        "them beside it; when the workflow has finished first, nothing happens. Checked here "
        "(SIGTERM between steps 2 and 3 with a 10 s grace period, the new process ready 0.4 s "
        "later, forked from a pre-imported interpreter): both processes ran step 3, its search "
        "twice (a redundant tool execution) or its LLM call twice (761 redundant tokens). With "
        "the 1.5 s start of an exec'd interpreter the workflow had finished first. Give each "
        "process its own executor id, or let the old process exit before the new one launches"
    ),
    "rolling_restart::killed_mid_step": (
        "in a rolling restart that keeps the executor id, a workflow the old process is running "
        "when it is killed may never finish: it stays PENDING under an executor id that is "
        "alive, so neither a later launch of that id nor Conductor (which recovers dead "
        "executors) runs it again. The new process's launch-time recovery puts the workflow "
        "back on a queue (3.x: reenqueue_for_recovery, onto the internal queue; 2.x: "
        "clear_queue_assignment, onto its own queue), which the old process, still alive, also "
        "polls; when the old process takes the re-run, the kill ends it for good. A race: a "
        "run where the new process takes the workflow finishes. Checked here (SIGKILL while an "
        "LLM call was held, the new process ready): PENDING 85 s after the "
        "kill, the re-made call the last thing recorded, on 3.4.0 (2 of 3 runs), 3.1.0 and "
        "2.23.0; the soak finds it too (--kinds evict --policies rolling). Give each process "
        "its own "
        "executor id, or let the old process exit before the new one launches"
    ),
    "recovery_fault::store_restarts_standby": (
        "a workflow recovered the moment Postgres crashes may never finish: it stays PENDING "
        "under the live executor that took it, so neither Conductor (which recovers dead "
        "executors) nor a launch of that id runs it again. Seen once on 3.4.0 (1 of 5 runs): "
        "the supervisor asked the live worker to run DBOS._recover_pending_workflows; Postgres "
        "crashed as its reenqueue_for_recovery UPDATE arrived; the call returned the workflow "
        "as recovered, the row was PENDING under the live worker with recovery_attempts 2 from "
        "that moment on, and no step ran in the 88 s to the trial's end. A race: the other runs "
        "finished. Not yet pinned down whether DBOS drops the execution it dequeued when its "
        "first write fails, or the worker does"
    ),
}
"""Scenario (``scenario::case``) -> a real DBOS behaviour a scenario flags: a promise breached,
or waste the scenario shows that DBOS's own contract allows. Shown as an xfail with this text."""
