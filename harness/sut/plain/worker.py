"""Worker of the ``plain`` SUT: ``python -m harness.sut.plain.worker --executor-id w1`` with the DSN
and provider URL in ``DURABENCH_WORKER_POSTGRES_URL`` / ``DURABENCH_WORKER_PROVIDER_URL``.

Steps of a worker's life:
1. create the job table if needed, print ``worker <executor-id> ready``;
2. every ``--poll`` seconds claim one job (the lease loop of :mod:`harness.sut._lease_loop`,
   ``FOR UPDATE SKIP LOCKED``, shared with ``langgraph``) and run its agent loop from step 0 in
   a thread; a heartbeat renews the leases of the jobs it runs;
3. the first execution to finish a job writes its outcome (retried until Postgres answers);
4. SIGTERM: stop claiming, let running jobs finish within half of ``--grace`` seconds, expire
   the leases of the rest so another worker can take them at once, exit 0.

LLM and effect calls are retried a few times with backoff, as any agent loop does; nothing is
recorded between steps.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any, TypeVar

import httpx
import openai
from psycopg.types.json import Jsonb

from harness.sut._lease_loop import Claim, LeaseLoop, LeaseTable
from harness.sut._worker_cli import exit_now, log_to_stderr, required_env, worker_parser
from harness.sut.plain import ENV_POSTGRES, ENV_PROVIDER, JOBS_TABLE, Queue, ensure_schema
from harness.workloads import (
    WORKLOADS,
    ChildSpec,
    GarbageResponseError,
    LlmReply,
    LlmRequest,
    attribution,
    call_llm,
    post_effect,
    run_tool,
)

T = TypeVar("T")
log = logging.getLogger("plain_worker")

JOBS = LeaseTable(JOBS_TABLE, key="job_id", outcome="output")
"""The job table as the lease loop sees it: an outcome is the job's output."""
RETRYABLE_CALL = (openai.APIError, httpx.HTTPError, GarbageResponseError)


def _with_retries(call: Callable[[], T], what: str, retries: int = 4) -> T:
    delay = 0.2
    for n in range(retries + 1):
        try:
            return call()
        except RETRYABLE_CALL as exc:
            if n == retries:
                raise
            log.warning("%s failed (%s); retry %d of %d", what, exc, n + 1, retries)
            time.sleep(delay)
            delay = min(2.0, delay * 2)
    raise AssertionError("unreachable")


class JobLost(Exception):
    """Another worker claimed the job (this one's lease expired): stop without writing."""


class PlainContext:
    """AgentContext with nothing durable: every call simply happens, once the worker has
    checked that it still holds the job (a lost lease stops the run; nothing fences the moment
    between the check and the call)."""

    def __init__(self, worker: Worker, workflow_id: str, attempt: int,
                 root_id: str | None = None) -> None:  # fmt: skip
        self._worker = worker
        self._workflow_id = workflow_id
        self._attempt = attempt
        self._root_id = root_id or workflow_id

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    def _headers(self, step: int) -> dict[str, str]:
        self._worker.check_held(self._root_id, self._attempt)
        return attribution(self._workflow_id, step, self._attempt, self._worker.executor_id)

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        url = self._worker.provider_url
        return _with_retries(lambda: call_llm(url, step, request, self._headers(step)),
                             f"llm step {step}")  # fmt: skip

    def tool(self, step: int, name: str, arguments: Mapping[str, Any], *,
             latency_s: float = 0.0, result_tokens: int = 100) -> Any:  # fmt: skip
        return run_tool(name, arguments, latency_s, result_tokens,
                        provider_url=self._worker.provider_url, headers=self._headers(step))

    def effect(self, step: int, name: str, key: str, payload: Any) -> bool:
        url = self._worker.provider_url
        return _with_retries(lambda: post_effect(url, name, key, payload, self._headers(step)),
                             f"effect step {step}")  # fmt: skip

    def sleep(self, step: int, seconds: float) -> None:
        """Not durable: nothing is recorded, so a rerun waits the whole sleep again."""
        self._headers(step)  # the claim is still held: a fenced execution stops here
        time.sleep(seconds)

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[Any]:
        """Sub-agents as threads of this execution; recorded as rows only so that their calls
        are attributed. A rerun of the parent reruns them all."""
        results: list[Any] = [None] * len(children)
        errors: list[BaseException] = []

        def child(i: int, spec: ChildSpec) -> None:
            job = Claim(f"{self._workflow_id}-c{step}.{i}", spec.workload, spec.params,
                        self._attempt)  # fmt: skip
            try:
                self._worker.register_child(job, parent_id=self._workflow_id)
                results[i] = self._worker.execute(job, root_id=self._root_id)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=child, args=(i, c), daemon=True)
                   for i, c in enumerate(children)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


class Worker(LeaseLoop):
    """The lease loop (:mod:`harness.sut._lease_loop`) running jobs: each claim runs the job's
    agent loop from step 0."""

    thread_prefix = "job"

    def __init__(self, args: argparse.Namespace, dsn: str, provider_url: str) -> None:
        super().__init__(JOBS, Queue(dsn), args.executor_id, args, log)
        self.provider_url = provider_url

    def check_held(self, root_id: str, attempt: int) -> None:
        """Raise :class:`JobLost` unless this execution's claim is still the job's latest."""
        row = self.latest(root_id, retry_s=60.0)
        if row is None or int(row[0]) != attempt or row[1] != "PENDING":
            raise JobLost(f"job {root_id}: attempt {attempt} superseded (now {row})")

    def run_claim(self, claim: Claim) -> None:
        with contextlib.suppress(Exception):  # logged (and an error recorded) by execute()
            self.execute(claim)

    def execute(self, job: Claim, root_id: str | None = None) -> Any:
        """Run the job's agent loop from step 0 and write its outcome; returns the output."""
        ctx = PlainContext(self, job.workflow_id, job.attempt, root_id)
        try:
            output = WORKLOADS[job.workload](ctx, job.params)
        except JobLost:
            log.warning("job %s: lost its lease to another worker; stopping", job.workflow_id)
            raise
        except Exception as exc:
            log.exception("job %s failed", job.workflow_id)
            self.finish(job.workflow_id, "ERROR", {"error": f"{type(exc).__name__}: {exc}"})
            raise
        self.finish(job.workflow_id, "SUCCESS", output)
        return output

    def finish(self, workflow_id: str, status: str, outcome: Any) -> bool:
        done = super().finish(workflow_id, status, outcome)
        if not done:
            log.info("job %s was already finished by another execution", workflow_id)
        return done

    def register_child(self, job: Claim, parent_id: str) -> None:
        now = time.time_ns()
        self.db.run(lambda c: c.execute(
            f"INSERT INTO {JOBS_TABLE} (job_id, parent_id, workload, params, executor, attempt, "
            "created_ns, updated_ns) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (job_id) DO UPDATE SET status = 'PENDING', output = NULL, "
            "executor = EXCLUDED.executor, attempt = EXCLUDED.attempt, updated_ns = %s",
            (job.workflow_id, parent_id, job.workload, Jsonb(dict(job.params)), self.executor_id,
             job.attempt, now, now, now)), retry_s=3600.0)  # fmt: skip

    def serve(self) -> None:
        self.db.run(ensure_schema, retry_s=60.0)
        super().serve()


def _parser() -> argparse.ArgumentParser:
    return worker_parser("harness.sut.plain.worker", __doc__, raw_description=False,
                         default_executor_id=f"plain-{os.getpid()}", attempts="--max-attempts")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    dsn, provider = required_env(parser, ENV_POSTGRES, ENV_PROVIDER)
    log_to_stderr()
    worker = Worker(args, dsn, provider)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        worker.serve()
    finally:
        worker.shutdown()
    exit_now()  # job threads left running hold nothing: their leases are expired


if __name__ == "__main__":
    sys.exit(main())
