"""A SUT's own services: started once per environment, checked, linked through Toxiproxy for the
workers, crashed by ``db_crash`` when they are the durable store, always torn down.

The SUT here is ``forwarded-plain`` (forwarded_sut.py): ``plain`` whose workers reach Postgres
through a real forwarder process, its declared durable store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from forwarded_sut import ForwarderService
from sut_dists import register

from harness import DbCrashFault, Trigger, get_sut, research_trial, run_trial
from harness.env import EnvironmentStartError
from harness.env.local import LocalEnvironment
from harness.runner import golden_baseline
from harness.services import ServicePool
from harness.sut import ServiceContext


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    if os.environ.get("DURABENCH_POSTGRES_URL"):
        pytest.skip("needs the embedded Postgres (the forwarder points at its server)")
    with LocalEnvironment(run_id="services-test") as env:
        yield env


@pytest.fixture
def forwarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    register(tmp_path, "forwarded-test-dist", {}, {"forwarded-plain": "forwarded_sut:SUT"})
    monkeypatch.syspath_prepend(str(tmp_path))
    return "forwarded-plain"


def _postmaster_started(env: LocalEnvironment) -> object:
    with psycopg.connect(env.postgres_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


def test_db_crash_crashes_the_sut_s_own_store_and_the_trial_rides_it_out(
    env: LocalEnvironment, forwarded: str
) -> None:
    postgres_since = _postmaster_started(env)
    with ServicePool(env) as pool:
        golden_spec = research_trial("db_crash", forwarded, DbCrashFault(down_s=1.0), "call2",
                                     trigger=Trigger("delivered", call=2), crash_step=1)
        golden = golden_baseline(run_trial(env, golden_spec.golden(), services=pool))
        result = run_trial(env, golden_spec, golden, services=pool)
        service = pool.for_sut(get_sut(forwarded)).services["pgfwd"]
        assert isinstance(service, ForwarderService)
        assert len(service.pids) == 2, "started once for both trials, restarted once by db_crash"
        log = service.tail(1000)
        assert log.count("listening on") == 2 and log.count("accepted") >= 2, log
        assert result.history.events_of("fault_fired"), "the trigger never fired"
        proxies = env.toxiproxy().proxies()
        assert not [p for p in proxies if p.startswith("svc_")], "service links outlive trials"
        last_pid = service.pids[-1]
    assert result.valid == "true", result.judgement.summary()
    assert result.history.workflows[0].status == "SUCCESS"
    assert _postmaster_started(env) == postgres_since, "db_crash crashed Postgres, not the store"
    with pytest.raises(ProcessLookupError):
        os.kill(last_pid, 0)  # torn down with the pool


class _Silent(ForwarderService):
    """Never listens: its address refuses connections."""

    def _spawn(self) -> None:
        self.port = 9  # discard: nothing listens there
        self.log_path.write_text("pretending to start\n")


def test_a_service_that_never_answers_fails_its_start_with_its_log(
    env: LocalEnvironment, tmp_path: Path
) -> None:
    ctx = ServiceContext(work_dir=str(tmp_path), run_id="x", postgres_url=env.postgres_url)
    service = _Silent(ctx)
    pool = ServicePool(env, ready_timeout_s=0.5)

    class Sut:
        name = "silent"
        durable_store = "postgres"

        def services(self, ctx: ServiceContext) -> list[ForwarderService]:
            return [service]

    with pytest.raises(EnvironmentStartError, match=r"(?s)'pgfwd' at 127.0.0.1:9 did not accept.*"
                                                     r"pretending to start"):
        pool.for_sut(Sut())  # type: ignore[arg-type]
    pool.close()
