"""Step overhead of the reference runtime against the floor of one durable Postgres write.

Run: ``.venv/bin/python benchmarks/step_overhead.py`` (from the repository root). Uses
``DURABENCH_POSTGRES_URL`` when set, else an embedded Postgres 16 on 127.0.0.1.

Measures, on one server:
1. floor: one single-row INSERT + COMMIT round trip (autocommit, synchronous_commit on), median
   of 500 samples taken before and 500 after step 2;
2. per_step: one workflow of 2,000 no-op steps; the body's wall time / 2,000;
3. recover_1000_s: one worker claiming (lease expired, dead owner) and finishing 1,000 PENDING
   one-step workflows;
4. dbos_per_step_us: DBOS Transact (the ``dbos`` SUT's runtime, when installed) on its own system
   database of the same server: one workflow of 2,000 no-op steps, the body's wall time / 2,000;
5. langgraph_per_step_us: LangGraph (the ``langgraph`` SUT's runtime, when installed) with
   ``PostgresSaver`` on its own database of the same server, ``durability="sync"``: one
   functional-API entrypoint of 500 no-op tasks, the run's wall time / 500.
6. temporal_sqlite_per_step_us: Temporal (the ``temporal`` SUT's runtime, when installed) on its
   dev server -- **SQLite, not this Postgres**: not comparable with the floor, shown for what the
   ``temporal`` trials run on. One workflow of 200 no-op activities started and awaited by a
   client; its wall time / 200 (a workflow task and an activity task per step).
7. resumable_step_us: the cost of a resumable step (``@app.step(resumable=True)`` that records
   a pending reference before it returns: the write-ahead record of ``reference-resume``'s LLM
   steps) against a plain step, side by side: one workflow alternating a plain no-op step and a
   resumable one 1,000 times each, every step timed from the workflow body; medians and their
   ratio, with n.

The last line is ``per_step_us=<n> floor_us=<n> ratio=<runtime/floor> recover_1000_s=<n>
plain_step_p50_us=<n> resumable_step_p50_us=<n> resumable_ratio=<resumable/plain> resumable_n=<n>
peak_rss_mb=<n> dbos_per_step_us=<n> dbos_ratio=<dbos/floor> langgraph_per_step_us=<n>
langgraph_ratio=<langgraph/floor> temporal_sqlite_per_step_us=<n>`` (``nan`` for a peer whose
extra, ``pip install 'durabench[dbos]'``, ``'durabench[langgraph]'`` or
``'durabench[temporal]'``, has not been installed).
"""

from __future__ import annotations

import importlib.util
import math
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.env.postgres import postgres_from_env
from reference_runtime import App, Runtime, record_pending_ref

STEPS = 2000
PAIRED = 1000
RECOVER = 1000
SCHEMA = "durabench_rt_bench"

app = App("step_overhead")


@app.step()
def noop(i: int) -> int:
    return i


@app.workflow()
def many_steps(n: int) -> int:
    started = time.perf_counter_ns()
    for i in range(n):
        noop(i)
    return time.perf_counter_ns() - started


@app.step(resumable=True)
def resumable_noop(i: int) -> int:
    record_pending_ref(f"resp_{i}")  # as reference-resume's LLM step records its response id
    return i


@app.workflow()
def one_step(i: int) -> int:
    return int(noop(i))


@app.workflow()
def paired_steps(n: int) -> list[list[int]]:
    """Alternating plain and resumable steps, each timed: [plain_ns, resumable_ns]."""
    plain, resumable = [], []
    for i in range(n):
        started = time.perf_counter_ns()
        noop(i)
        plain.append(time.perf_counter_ns() - started)
        started = time.perf_counter_ns()
        resumable_noop(i)
        resumable.append(time.perf_counter_ns() - started)
    return [plain, resumable]


def floor_samples(url: str, samples: int) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = on")
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, v integer NOT NULL)")
        timings = []
        for i in range(samples):
            started = time.perf_counter_ns()
            conn.execute("INSERT INTO bench_floor (v) VALUES (%s)", (i,))
            timings.append(time.perf_counter_ns() - started)
        conn.execute("DROP TABLE bench_floor")
    return timings


def per_step_us(rt: Runtime) -> float:
    handle = rt.start_workflow(many_steps, STEPS, workflow_id="bench-many-steps")
    return float(handle.result(timeout=300)) / STEPS / 1000


def resumable_us(rt: Runtime) -> tuple[float, float]:
    """Medians (us) of a plain and a resumable step, timed side by side (module docstring)."""
    handle = rt.start_workflow(paired_steps, PAIRED, workflow_id="bench-paired-steps")
    plain, resumable = handle.result(timeout=300)
    return statistics.median(plain) / 1000, statistics.median(resumable) / 1000


def recover_s(url: str, client: Runtime) -> float:
    for i in range(RECOVER):
        client.start_workflow(one_step, i, workflow_id=f"bench-recover-{i}")
    with psycopg.connect(url, autocommit=True) as conn:
        # As a crashed worker leaves them: owned by a dead executor, lease expired.
        conn.execute(
            f"UPDATE {SCHEMA}.workflows SET executor_id = 'dead', epoch = 1, "
            "lease_expires_at = now() - interval '1 second' "
            "WHERE workflow_id LIKE 'bench-recover-%'"
        )
        with Runtime(app, url, "bench-recoverer", poll_s=0.05, schema=SCHEMA) as rt:
            stop = threading.Event()
            worker = threading.Thread(target=rt.run_worker, args=(stop,), daemon=True)
            started = time.perf_counter()
            worker.start()
            while True:
                row = conn.execute(
                    f"SELECT count(*) FROM {SCHEMA}.workflows WHERE status = 'SUCCESS' "
                    "AND workflow_id LIKE 'bench-recover-%'"
                ).fetchone()
                if row is not None and row[0] >= RECOVER:
                    break
                if time.perf_counter() - started > 300:
                    raise TimeoutError("recovery of 1,000 workflows took over 300 s")
                time.sleep(0.02)
            elapsed = time.perf_counter() - started
            stop.set()
    return elapsed


def dbos_per_step_us(url: str) -> float:
    """DBOS's cost per no-op step, in a fresh system database on the same server; nan when DBOS
    is not installed."""
    if importlib.util.find_spec("dbos") is None:
        print("dbos: not installed (pip install 'durabench[dbos]'); skipped", flush=True)
        return math.nan
    from dbos import DBOS
    from dbos._serialization import DBOSPortableJSONSerializer

    from harness.sut.dbos import sqlalchemy_url

    @DBOS.step()
    def dbos_noop(i: int) -> int:
        return i

    @DBOS.workflow()
    def dbos_many_steps(n: int) -> int:
        started = time.perf_counter_ns()
        for i in range(n):
            dbos_noop(i)
        return time.perf_counter_ns() - started

    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = "durabench_dbos_bench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS durabench_dbos_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE durabench_dbos_bench")
    DBOS(config={"name": "step-overhead", "log_level": "WARNING",
                 "system_database_url": sqlalchemy_url(psycopg.conninfo.make_conninfo(**info)),
                 "serializer": DBOSPortableJSONSerializer()})
    try:
        DBOS.launch()
        elapsed = dbos_many_steps(STEPS)
    finally:
        DBOS.destroy()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS durabench_dbos_bench WITH (FORCE)")
    per_step = float(elapsed) / STEPS / 1000
    print(f"dbos: {per_step:.1f} us per step over {STEPS} steps", flush=True)
    return per_step


LANGGRAPH_STEPS = 500


def langgraph_per_step_us(url: str) -> float:
    """LangGraph's cost per no-op task with PostgresSaver (durability sync), in a fresh database
    on the same server; nan when LangGraph is not installed."""
    from harness.sut.langgraph import LANGGRAPH

    if LANGGRAPH.available() is not None:
        print(f"langgraph: {LANGGRAPH.available()}; skipped", flush=True)
        return math.nan
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.func import entrypoint, task

    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = "durabench_langgraph_bench"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS durabench_langgraph_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE durabench_langgraph_bench")
    dsn = psycopg.conninfo.make_conninfo(**info)
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=0) as conn:
        saver = PostgresSaver(conn)  # type: ignore[arg-type]
        saver.setup()

        @task
        def lg_noop(i: int) -> int:
            return i

        @entrypoint(checkpointer=saver)
        def lg_many_steps(n: int) -> int:
            for i in range(n):
                lg_noop(i).result()
            return n

        started = time.perf_counter_ns()
        lg_many_steps.invoke(LANGGRAPH_STEPS, {"configurable": {"thread_id": "bench"}},
                             durability="sync")  # fmt: skip
        elapsed = time.perf_counter_ns() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS durabench_langgraph_bench WITH (FORCE)")
    per_step = float(elapsed) / LANGGRAPH_STEPS / 1000
    print(f"langgraph: {per_step:.1f} us per task over {LANGGRAPH_STEPS} tasks", flush=True)
    return per_step


TEMPORAL_STEPS = 200

if importlib.util.find_spec("temporalio") is not None:
    from datetime import timedelta

    from temporalio import activity, workflow

    @activity.defn(name="noop")
    async def temporal_noop(i: int) -> int:
        return i

    @workflow.defn(name="many-steps")
    class TemporalManySteps:
        @workflow.run
        async def run(self, n: int) -> int:
            for i in range(n):
                await workflow.execute_activity("noop", i,
                                                start_to_close_timeout=timedelta(seconds=30))
            return n


def temporal_per_step_us() -> float:
    """Temporal's cost per no-op activity on its dev server (SQLite); nan when not installed."""
    from harness.sut.temporal import TEMPORAL_SUT

    reason = TEMPORAL_SUT.available()
    if reason is not None:
        print(f"temporal: {reason}; skipped", flush=True)
        return math.nan
    import asyncio
    import tempfile
    import uuid

    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from harness.sut import ServiceContext
    from harness.sut.temporal import TemporalDevServer, temporal_binary

    async def measure(address: str) -> float:
        client = await Client.connect(address)
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        async with Worker(client, task_queue=queue, workflows=[TemporalManySteps],
                          activities=[temporal_noop],
                          workflow_runner=UnsandboxedWorkflowRunner()):  # fmt: skip
            started = time.perf_counter_ns()
            await client.execute_workflow("many-steps", TEMPORAL_STEPS, id=queue,
                                          task_queue=queue)  # fmt: skip
            return (time.perf_counter_ns() - started) / TEMPORAL_STEPS / 1000

    binary = temporal_binary()
    assert binary is not None
    with (tempfile.TemporaryDirectory(prefix="durabench-temporal-bench-") as work,
          TemporalDevServer(ServiceContext(work, "step-overhead"), binary) as server):
        per_step = asyncio.run(measure(server.url))
    print(f"temporal (dev server, SQLite): {per_step:.1f} us per step over {TEMPORAL_STEPS} "
          "steps", flush=True)
    return per_step


def main() -> None:
    with postgres_from_env(run_id="step-overhead") as pg:
        url = pg.url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        # The floor is sampled before and after the runtime's run, so that a change in the
        # machine's load during the run weighs on both sides of the ratio.
        before = floor_samples(url, 500)
        with Runtime(app, url, "bench-worker", poll_s=0.05, schema=SCHEMA) as rt:
            stop = threading.Event()
            worker = threading.Thread(target=rt.run_worker, args=(stop,), daemon=True)
            worker.start()
            per_step = per_step_us(rt)
            print(f"runtime: {per_step:.1f} us per step over {STEPS} steps", flush=True)
            plain_p50, resumable_p50 = resumable_us(rt)
            print(f"resumable steps: median {resumable_p50:.1f} us vs {plain_p50:.1f} us for a "
                  f"plain step (x{resumable_p50 / plain_p50:.2f}, n = {PAIRED} each, "
                  "alternating)", flush=True)
            stop.set()
            worker.join(timeout=5)
        dbos_step = dbos_per_step_us(url)
        langgraph_step = langgraph_per_step_us(url)
        temporal_step = temporal_per_step_us()
        floor = statistics.median(before + floor_samples(url, 500)) / 1000
        print(f"floor: {floor:.1f} us per INSERT+COMMIT (median of 1000)", flush=True)
        with Runtime(app, url, "bench-client", schema=SCHEMA) as client:
            recover = recover_s(url, client)
        print(f"recovery: {RECOVER} one-step workflows in {recover:.2f} s", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"per_step_us={per_step:.1f} floor_us={floor:.1f} ratio={per_step / floor:.2f} "
        f"recover_1000_s={recover:.2f} plain_step_p50_us={plain_p50:.1f} "
        f"resumable_step_p50_us={resumable_p50:.1f} "
        f"resumable_ratio={resumable_p50 / plain_p50:.2f} resumable_n={PAIRED} "
        f"peak_rss_mb={peak_mb:.1f} "
        f"dbos_per_step_us={dbos_step:.1f} dbos_ratio={dbos_step / floor:.2f} "
        f"langgraph_per_step_us={langgraph_step:.1f} "
        f"langgraph_ratio={langgraph_step / floor:.2f} "
        f"temporal_sqlite_per_step_us={temporal_step:.1f}"
    )


if __name__ == "__main__":
    main()
