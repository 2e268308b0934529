"""What the Temporal SUT tells a reader about itself (``durabench suts``, reports): its notes
and the known findings, kept apart from the adapter's code."""

from __future__ import annotations

from collections.abc import Mapping

NOTES: tuple[str, ...] = (
    "deployed as Temporal's docs describe: one dev server (temporal server start-dev, SQLite; "
    "not Postgres) per environment, worker identity = executor id, one task queue per trial "
    "polled by all its workers; workflow code sandboxed, the workload run in a greenlet so its "
    "synchronous calls become awaited activities",
    "promises (Temporal docs): workflows run to completion, completed activities are never "
    "re-executed (their results replay from the history), activities at least once, one "
    "outcome; a timed-out attempt's late completion is rejected by the server",
    "not promised: single_active_execution. Temporal has no owner of a workflow: any polling "
    "worker runs its next activity, and nothing stops a superseded attempt's side effects (an "
    "LLM call, an effect post) from happening after the server scheduled the next attempt; "
    "only its completion is rejected",
    "not promised: bounded_waste. Activities are at least once with no bound on how often the "
    "in-flight one runs again: a frozen (SIGSTOPped) worker's long poll stays open at the "
    "server, which may hand it the next attempt of the very activity it froze in; that attempt "
    "times out too, and the resumed worker still runs it (its LLM call is billed) before its "
    "heartbeat learns it is stale. Seen in scenarios/test_pause.py: the in-flight step paid "
    "three times",
    "restart/delayed: a replacement polls the same task queue; standby: a second worker polls "
    "it from the start (both may run the workflow's activities before any fault). Recovery is "
    "the server's: a lost attempt times out after the heartbeat timeout (= the lease) and the "
    "next attempt goes to any polling worker; no supervisor needed",
    "epoch of an activity attempt = the workflow's epoch + attempt - 1 (+ 1 at least when its "
    "executor restarted since the workflow's previous activity); the workflow's epoch is the "
    "highest epoch a completed activity recorded (so a retry after an error raises it too)",
    "db_crash SIGKILLs the dev server and starts it again on the same port and SQLite file",
    "SIGTERM: graceful worker shutdown waiting grace_s for running activities, then exit 0",
)

_OUTAGE = (
    "the worker cannot heartbeat while the server is unreachable; once the outage outlasts "
    "the heartbeat timeout (= the lease, 2 s here) the server times the in-flight activity out "
    "and a new attempt pays the step again (Temporal keeps no owner that could carry on, as "
    "the lease-based runtimes do); a production heartbeat timeout (tens of seconds) would "
    "ride such an outage out at the price of slower recovery from a dead worker"
)
KNOWN_FINDINGS: Mapping[str, str] = {
    "db_crash::mid_step_late": "a server crash during an LLM call costs that call: " + _OUTAGE,
    "partition::store_outage_past_lease": "the worker->server link down for 2.5 leases while "
    "an LLM call is held: the server times that attempt out and a new attempt (epoch 2) runs on "
    "the same, live worker, which may pay the call again: " + _OUTAGE,
}
"""Scenario (or ``scenario::case``) -> a real Temporal behaviour the scenario expects
otherwise, with its explanation (shown as an xfail, never as a pass)."""
