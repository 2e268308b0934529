"""Takeover time of the reference runtime: SIGKILL the worker running a workflow, with a standby.

Run: ``.venv/bin/python benchmarks/takeover.py [--lease 30] [--kills 20]`` from the repository
root. Uses ``DURABENCH_POSTGRES_URL`` when set, else an embedded Postgres 16 on 127.0.0.1.
Lease, heartbeat and poll default to the suite's worker options (``harness.sut.WorkerOptions``).

Each round, with two worker processes running (this file with ``--worker``; the DSN reaches them
in the environment, never argv):
1. start a workflow of short steps (each records, as its output, the wall-clock ns it started at);
2. once it has recorded two steps, SIGKILL its owner's process group, noting the wall clock;
3. the takeover time is the start of the first step recorded at epoch 2 (the standby's first
   progress on the workflow, from the runtime's own records) minus the kill;
4. cancel the workflow, start a fresh worker in place of the killed one.

The last line is ``takeover_p50_s=<n> takeover_p95_s=<n> lease_s=<n>``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.env.postgres import postgres_from_env  # noqa: E402
from harness.sut import WorkerOptions  # noqa: E402
from reference_runtime import App, Runtime  # noqa: E402

SCHEMA = "durabench_rt_takeover"
ENV_DSN = "DURABENCH_TAKEOVER_POSTGRES_URL"
STEP_S = 0.02

app = App("takeover")


@app.step()
def tick(i: int) -> int:
    started = time.time_ns()
    time.sleep(STEP_S)
    return started


@app.workflow()
def ticking(n: int) -> int:
    for i in range(n):
        tick(i)
    return n


# -- workers -------------------------------------------------------------------------------------
def serve(executor_id: str, lease_s: float, heartbeat_s: float, poll_s: float) -> int:
    """A worker process: run until SIGTERM (or a SIGKILL, the point of the benchmark)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    rt = Runtime(app, os.environ[ENV_DSN], executor_id, lease_s=lease_s,
                 heartbeat_s=heartbeat_s, poll_s=poll_s, schema=SCHEMA)  # fmt: skip
    print(f"worker {executor_id} ready", flush=True)
    try:
        rt.run_worker(stop)
    finally:
        rt.shutdown(1.0)
    return 0


class WorkerPool:
    """Worker processes of this benchmark, each in its own process group."""

    def __init__(self, url: str, lease_s: float, heartbeat_s: float, poll_s: float) -> None:
        self._url = url
        self._timing = [str(lease_s), str(heartbeat_s), str(poll_s)]
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def spawn(self) -> str:
        executor = f"bench-{uuid.uuid4().hex[:6]}"
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", executor, *self._timing],
            cwd=ROOT, env={**os.environ, ENV_DSN: self._url}, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != f"worker {executor} ready":
            proc.kill()
            raise RuntimeError(f"benchmark worker did not start: {line!r}")
        self.procs[executor] = proc
        return executor

    def kill(self, executor: str) -> int:
        """SIGKILL the worker's process group; returns the wall-clock ns just before."""
        proc = self.procs.pop(executor)
        at = time.time_ns()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return at

    def close(self) -> None:
        for proc in self.procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            proc.wait(timeout=15)


# -- one round -----------------------------------------------------------------------------------
def _poll(
    conn: psycopg.Connection, query: str, wid: str, what: str, timeout_s: float
) -> tuple[object, ...]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = conn.execute(query, (wid,)).fetchone()
        if row is not None:
            return tuple(row)
        time.sleep(0.005)
    raise TimeoutError(f"{what} did not happen within {timeout_s:.0f}s (workflow {wid})")


def one_takeover(
    conn: psycopg.Connection, client: Runtime, pool: WorkerPool, lease_s: float
) -> float:
    """One kill of a running workflow's owner; returns seconds to the standby's first step."""
    wid = f"takeover-{uuid.uuid4().hex[:8]}"
    client.start_workflow(ticking, 100_000, workflow_id=wid)
    (owner,) = _poll(conn, f"SELECT executor_id FROM {SCHEMA}.steps "
                           "WHERE workflow_id = %s AND seq = 1", wid, "two steps", 30)  # fmt: skip
    killed_ns = pool.kill(owner)
    (started_ns,) = _poll(
        conn,
        f"SELECT output::bigint FROM {SCHEMA}.steps WHERE workflow_id = %s AND epoch = 2 "
        "ORDER BY seq LIMIT 1",
        wid,
        "the standby's first step",
        lease_s * 2 + 30,
    )
    client.cancel(wid)
    pool.spawn()
    return (int(started_ns) - killed_ns) / 1e9


def run(url: str, kills: int, lease_s: float, heartbeat_s: float, poll_s: float) -> list[float]:
    """``kills`` rounds with two workers; the takeover time of each, in seconds."""
    times: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        pool = WorkerPool(url, lease_s, heartbeat_s, poll_s)
        try:
            with Runtime(app, url, "bench-client", schema=SCHEMA) as client:
                pool.spawn()
                pool.spawn()  # the standby
                for i in range(kills):
                    times.append(one_takeover(conn, client, pool, lease_s))
                    print(f"kill {i + 1}: takeover {times[-1]:.3f}s", flush=True)
        finally:
            pool.close()
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    return times


def main() -> None:
    defaults = WorkerOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease", type=float, default=defaults.lease_s)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--poll", type=float, default=defaults.poll_s)
    args = parser.parse_args()
    if args.lease <= 0 or args.kills < 1 or args.poll <= 0:
        parser.error("--lease and --poll must be > 0, --kills >= 1")
    heartbeat = min(defaults.heartbeat_s, args.lease / 4)
    with postgres_from_env(run_id="takeover") as pg:
        times = run(pg.url, args.kills, args.lease, heartbeat, args.poll)
    p95 = statistics.quantiles(times, n=20, method="inclusive")[18] if len(times) > 1 else times[0]
    print(f"poll_s={args.poll} heartbeat_s={heartbeat} kills={len(times)}")
    print(f"takeover_p50_s={statistics.median(times):.3f} takeover_p95_s={p95:.3f} "
          f"lease_s={args.lease:g}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        sys.exit(serve(sys.argv[2], *(float(a) for a in sys.argv[3:6])))
    main()
