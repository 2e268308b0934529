"""Fixtures for the reference runtime tests: one real Postgres per session, a schema per test,
in-process runtimes and worker subprocesses (see ``rt_support``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rt_support import RuntimeFactory, WorkerProcess

from harness.env.postgres import postgres_from_env
from reference_runtime import Runtime
from tests.reference_runtime.apps import app


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_from_env(run_id="rt-tests") as pg:
        yield pg.url


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"rt_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def make_runtime(pg_url: str, schema: str) -> Iterator[RuntimeFactory]:
    made: list[Runtime] = []

    def make(executor_id: str = "test-worker", **options: Any) -> Runtime:
        defaults: dict[str, Any] = {
            "lease_s": 5.0,
            "heartbeat_s": 0.5,
            "poll_s": 0.05,
            "schema": schema,
        }
        rt = Runtime(app, pg_url, executor_id, **{**defaults, **options})
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()


@pytest.fixture
def spawn_worker(
    pg_url: str, schema: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def spawn(executor_id: str, *extra: str) -> WorkerProcess:
        worker = WorkerProcess(pg_url, schema, executor_id, tmp_path, *extra)
        worker.__enter__()
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.kill()
