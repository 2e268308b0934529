"""What the LangGraph SUTs tell a reader about themselves (durabench suts, reports):
their notes and the known findings, kept apart from the adapter's code."""

from __future__ import annotations

from collections.abc import Mapping

from harness.sut.langgraph import LANDED_TABLE, THREADS_TABLE

NOTES: tuple[str, ...] = (
    "LangGraph resumes nothing by itself: the worker loop that finds unfinished threads and "
    "re-invokes them (invoke(None, {'configurable': {'thread_id': ...}})) is the adapter's, the "
    "minimal loop a deployer must write (LangGraph Platform plays it for its users), not "
    "LangGraph's",
    f"that loop: started threads in the adapter's table {THREADS_TABLE}, claimed with FOR "
    "UPDATE SKIP LOCKED under a lease (WorkerOptions.lease_s) renewed every heartbeat_s; "
    "restart/delayed: a replacement with the same executor id reclaims its threads at once; "
    "standby: another worker claims a thread once its lease expired",
    "no fencing: LangGraph never checks who else runs a thread, and the adapter's lease only "
    "decides who invokes it next; a superseded (paused) worker that wakes up runs on, writes its "
    "task results (first writer of a task wins) and may write the final checkpoint after the "
    "new owner's: what the pause scenario shows",
    "the worker's checkpoint connections set idle_in_transaction_session_timeout to "
    "max(5 s, 4 x lease_s) and carry the executor id as application_name; a worker that takes "
    "a thread over from another executor first ends that executor's sessions "
    "(pg_terminate_backend): LangGraph's saver writes in pipelines, and a worker frozen between "
    "a pipeline's statements and its sync holds their row locks with its session 'active', "
    "where no idle timeout applies, so the replacement's write of the same task would wait for "
    "as long as the freeze lasts (seen in CI); not a fence, the woken worker reconnects",
    "LangGraph submits a task's result write in the background, also with durability="
    "'sync' (which orders checkpoints, not task writes): a SIGKILL right after a task can "
    "lose its result, and the task runs again (waste beyond the step in flight)",
    "a task's result write that fails (e.g. the database restarting) does not stop LangGraph's "
    "run: the run goes on, finishes and saves its final checkpoint, and the error surfaces only "
    "when invoke returns, the task's result lost for good (checked here); the adapter's saver "
    "retries its writes (idempotent, ON CONFLICT) on a lost connection for up to 120 s",
    "every database operation of the worker (LangGraph's saver, the pool's check of each "
    "connection it hands the saver, and the loop's table) is cut after DURABENCH_DB_TIMEOUT_S "
    "(default 30 s; faults that hang a query set it): LangGraph sets no query timeout and its "
    "saver runs every operation under one lock, so one hung query would stop every thread",
    "promises (LangGraph docs, 'Durable execution'): with a checkpointer a resumed run replays "
    "tasks whose results were saved instead of running them again; side effects go in tasks "
    "with idempotency keys. Nothing about concurrent invokers or write timing: "
    "single_active_execution, single_outcome, output_consistency and bounded_waste are not "
    "promised",
    "history: LangGraph's checkpoints (final when __end__ holds the return value) and "
    "checkpoint_writes (one __return__ write per task, stamped with executor and attempt; the "
    f"attempt also goes into config['metadata']); when each write and checkpoint landed, from "
    f"the adapter's triggers ({LANDED_TABLE}, server clock)",
    "fan_out: each sub-agent is its own thread (a child task invokes it), registered as a child "
    "row; a finished child's final checkpoint is reused by a re-run parent in both modes",
    "retries: llm and effect tasks 5 attempts (0.2 s, x2 backoff), tool 3 (LangGraph "
    "RetryPolicy); SIGTERM (the loop's, LangGraph has no shutdown): the task running finishes, "
    "no further task starts, the thread's lease is expired so another worker resumes it at "
    "once; after half of grace_s the leases of threads still running are expired too",
)

KNOWN_FINDINGS: Mapping[str, str] = {
    "failed_step": "LangGraph re-runs a task that failed for good when its thread is resumed: "
                   "the task's error is saved (an __error__ write) but not replayed, so after "
                   "a crash the failed LLM call is made again and the run may take another path "
                   "than before it (checked here: a task that raised, then a SIGKILL, then "
                   "invoke(None) ran the failed task again)",
}
"""Scenario -> a real LangGraph behaviour that a scenario expects of a checkpointing runtime."""

CONNECT_FINDINGS: Mapping[str, str] = {
    "degrade::slow_reconnect": "the adapter opens LangGraph's checkpointer connections (a "
                               "psycopg_pool ConnectionPool) and its resume loop's own with "
                               "connect_timeout=3 s, and a timed-out connect is retried with the "
                               "same bound: over a link whose connect takes four 1.5 s answers "
                               "(6 s) the worker never reconnects, and the thread finishes only "
                               "once the link is fast again",
}
"""Scenario case -> a shortfall of the adapter's deployment, with checkpointing on or off."""
