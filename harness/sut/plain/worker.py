"""Worker of the ``plain`` SUT: ``python -m harness.sut.plain.worker --executor-id w1`` with the DSN
and provider URL in ``DURABENCH_WORKER_POSTGRES_URL`` / ``DURABENCH_WORKER_PROVIDER_URL``.

Steps of a worker's life:
1. create the job table if needed, print ``worker <executor-id> ready``;
2. every ``--poll`` seconds claim one job (:data:`CLAIM`, ``FOR UPDATE SKIP LOCKED``) and run its
   agent loop from step 0 in a thread; a heartbeat renews the leases of the jobs it runs;
3. the first execution to finish a job writes its outcome (retried until Postgres answers);
4. SIGTERM: stop claiming, let running jobs finish within half of ``--grace`` seconds, expire
   the leases of the rest so another worker can take them at once, exit 0.

LLM and effect calls are retried a few times with backoff, as any agent loop does; nothing is
recorded between steps.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

import httpx
import openai
import psycopg
from psycopg.types.json import Jsonb

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

CLAIM = f"""
UPDATE {JOBS_TABLE} SET executor = %(me)s, attempt = attempt + 1, updated_ns = %(now)s,
       lease_until = now() + make_interval(secs => %(lease)s)
WHERE job_id = (
    SELECT job_id FROM {JOBS_TABLE}
    WHERE status = 'PENDING' AND parent_id IS NULL AND NOT (job_id = ANY(%(running)s))
      AND (executor IS NULL OR executor = %(me)s OR lease_until < now())
    ORDER BY created_ns LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING job_id, workload, params, attempt
"""
FINISH = f"""
UPDATE {JOBS_TABLE} SET status = %(status)s, output = %(output)s, updated_ns = %(now)s,
       lease_until = NULL
WHERE job_id = %(job)s AND status = 'PENDING'
"""
"""First writer wins, whichever claim it runs under: nothing fences a superseded execution."""
RETRYABLE_CALL = (openai.APIError, httpx.HTTPError, GarbageResponseError)


@dataclass(frozen=True)
class Job:
    job_id: str
    workload: str
    params: Mapping[str, Any]
    attempt: int


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

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[Any]:
        """Sub-agents as threads of this execution; recorded as rows only so that their calls
        are attributed. A rerun of the parent reruns them all."""
        results: list[Any] = [None] * len(children)
        errors: list[BaseException] = []

        def child(i: int, spec: ChildSpec) -> None:
            job = Job(f"{self._workflow_id}-c{step}.{i}", spec.workload, spec.params,
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


class Worker:
    def __init__(self, args: argparse.Namespace, dsn: str, provider_url: str) -> None:
        self.args = args
        self.executor_id: str = args.executor_id
        self.provider_url = provider_url
        self.queue = Queue(dsn)
        self.stop = threading.Event()
        self.running: dict[str, tuple[int, threading.Thread]] = {}
        self.lock = threading.Lock()

    def claim(self) -> Job | None:
        with self.lock:
            running = list(self.running)
        params = {"me": self.executor_id, "now": time.time_ns(), "lease": self.args.lease,
                  "running": running}  # fmt: skip
        row = self.queue.run(lambda c: c.execute(CLAIM, params).fetchone(), retry_s=0.0)
        return None if row is None else Job(row[0], row[1], row[2], int(row[3]))

    def check_held(self, root_id: str, attempt: int) -> None:
        """Raise :class:`JobLost` unless this execution's claim is still the job's latest."""
        sql = f"SELECT attempt, status FROM {JOBS_TABLE} WHERE job_id = %s"
        row = self.queue.run(lambda c: c.execute(sql, (root_id,)).fetchone(), retry_s=60.0)
        if row is None or int(row[0]) != attempt or row[1] != "PENDING":
            raise JobLost(f"job {root_id}: attempt {attempt} superseded (now {row})")

    def execute(self, job: Job, root_id: str | None = None) -> Any:
        """Run the job's agent loop from step 0 and write its outcome; returns the output."""
        ctx = PlainContext(self, job.job_id, job.attempt, root_id)
        try:
            output = WORKLOADS[job.workload](ctx, job.params)
        except JobLost:
            log.warning("job %s: lost its lease to another worker; stopping", job.job_id)
            raise
        except Exception as exc:
            log.exception("job %s failed", job.job_id)
            self.finish(job, "ERROR", {"error": f"{type(exc).__name__}: {exc}"})
            raise
        self.finish(job, "SUCCESS", output)
        return output

    def finish(self, job: Job, status: str, output: Any) -> None:
        params = {"status": status, "output": Jsonb(output), "now": time.time_ns(),
                  "job": job.job_id}  # fmt: skip
        done = self.queue.run(lambda c: c.execute(FINISH, params).rowcount, retry_s=3600.0)
        if not done:
            log.info("job %s was already finished by another execution", job.job_id)

    def register_child(self, job: Job, parent_id: str) -> None:
        now = time.time_ns()
        self.queue.run(lambda c: c.execute(
            f"INSERT INTO {JOBS_TABLE} (job_id, parent_id, workload, params, executor, attempt, "
            "created_ns, updated_ns) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (job_id) DO UPDATE SET status = 'PENDING', output = NULL, "
            "executor = EXCLUDED.executor, attempt = EXCLUDED.attempt, updated_ns = %s",
            (job.job_id, parent_id, job.workload, Jsonb(dict(job.params)), self.executor_id,
             job.attempt, now, now, now)), retry_s=3600.0)  # fmt: skip

    def start_job(self, job: Job) -> None:
        if job.attempt > self.args.max_attempts:
            self.finish(job, "DEAD_LETTER", {"error": f"claimed {job.attempt} times"})
            return

        def body() -> None:
            try:
                self.execute(job)
            except Exception:
                pass  # logged (and an error recorded) by execute()
            finally:
                with self.lock:
                    self.running.pop(job.job_id, None)

        thread = threading.Thread(target=body, name=f"job-{job.job_id}", daemon=True)
        with self.lock:
            self.running[job.job_id] = (job.attempt, thread)
        thread.start()

    def heartbeat(self) -> None:
        while not self.stop.wait(self.args.heartbeat):
            with self.lock:
                held = [(j, a) for j, (a, _) in self.running.items()]
            for job_id, attempt in held:
                try:
                    self._expire_or_renew(job_id, attempt, self.args.lease, retry_s=0.0)
                except psycopg.Error as exc:
                    log.warning("heartbeat failed: %s", exc)

    def _expire_or_renew(self, job_id: str, attempt: int, lease_s: float, retry_s: float) -> None:
        """Set the lease of a job this execution holds to now + ``lease_s`` (negative: expired)."""
        sql = (f"UPDATE {JOBS_TABLE} SET lease_until = now() + make_interval(secs => %s) "
               "WHERE job_id = %s AND attempt = %s AND status = 'PENDING'")  # fmt: skip

        def op(conn: psycopg.Connection) -> None:
            conn.execute(sql, (lease_s, job_id, attempt))

        self.queue.run(op, retry_s=retry_s)

    def serve(self) -> None:
        self.queue.run(ensure_schema, retry_s=60.0)
        threading.Thread(target=self.heartbeat, name="heartbeat", daemon=True).start()
        print(f"worker {self.executor_id} ready", flush=True)
        while not self.stop.wait(self.args.poll):
            try:
                job = self.claim()
            except psycopg.Error as exc:
                log.warning("claim failed: %s", exc)
                continue
            if job is not None:
                log.info("claimed %s (attempt %d)", job.job_id, job.attempt)
                self.start_job(job)

    def shutdown(self) -> None:
        """Let running jobs finish within half the grace period (the rest is the margin for
        releasing and exiting before the SIGKILL); expire the leases of the rest."""
        deadline = time.monotonic() + self.args.grace / 2
        with self.lock:
            threads = [t for _, t in self.running.values()]
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self.lock:
            left = [(j, a) for j, (a, _) in self.running.items()]
        for job_id, attempt in left:
            self._expire_or_renew(job_id, attempt, -1.0, retry_s=2.0)


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
