"""The Docker images and docker-compose.yml, against a real Docker engine.

Without an engine (or debootstrap/root for the offline build) the engine tests skip with the
reason; ``DURABENCH_REQUIRE=docker`` turns those skips into failures. The offline image set is
built once per session when missing (a cold build takes ~3-4 min, a cached one ~15 s); run
``scripts/docker-engine.sh && durabench images build --offline`` beforehand to keep it out of
the test run. Containers are labelled ``org.durabench.test=images`` and always removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from harness import images
from harness.env.postgres import free_port
from harness.images import BuildOptions, ImagesError, ImageSet
from harness.require import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
LABELS = {"org.durabench.test": "images"}
SERVICES = {"postgres", "toxiproxy", "toxiproxy-populate", "provider", "worker"}


# -- no engine needed ---------------------------------------------------------------------------


def test_image_set_defaults_and_overrides() -> None:
    assert ImageSet.from_env(offline=False, environ={}) == ImageSet(
        "durabench:latest", "postgres:16", "ghcr.io/shopify/toxiproxy:2.12.0", False)
    offline = ImageSet.from_env(offline=True, environ={})
    assert offline.names() == ("durabench:latest", "durabench-postgres:latest",
                               "durabench-toxiproxy:latest")
    env = {"DURABENCH_IMAGE": "me/db:1", "DURABENCH_POSTGRES_IMAGE": "pg:x",
           "DURABENCH_TOXIPROXY_IMAGE": ""}
    assert ImageSet.from_env(offline=True, environ=env).names() == (
        "me/db:1", "pg:x", "durabench-toxiproxy:latest")


@pytest.mark.parametrize(("name", "text", "mirror"), [
    ("debian.sources", "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm "
     "bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://sec.example/debian-security"
     "\nSuites: bookworm-security\n", "http://mirror.example/debian"),
    ("x.list", "deb [arch=amd64] https://other.example/apt stable main\n"
     "deb http://m2.example/debian bookworm main\n", "http://m2.example/debian"),
    ("none.list", "deb http://m3.example/debian bullseye main\n", images.DEFAULT_MIRROR),
])  # fmt: skip
def test_debian_mirror_is_the_one_apt_uses(tmp_path: Path, name: str, text: str,
                                           mirror: str) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / name).write_text(text)
    assert images.debian_mirror(tmp_path) == mirror


def _compose_as_json() -> dict[str, Any]:
    """The compose file as data, via PyYAML here or in docker-compose's own Python."""
    code = ("import json, sys, yaml; "
            "json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)")
    for python in (sys.executable, "/usr/bin/python3"):
        proc = subprocess.run([python, "-c", code, str(COMPOSE)], capture_output=True,
                              text=True, timeout=30, check=False)
        if proc.returncode == 0:
            data: dict[str, Any] = json.loads(proc.stdout)
            return data
    skip_or_fail("docker", "no Python with PyYAML to read docker-compose.yml "
                           "(apt-get install docker-compose brings one)")


def test_compose_file_is_valid_for_docker_compose() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        skip_or_fail("docker", "docker-compose is not installed (scripts/docker-engine.sh)")
    proc = subprocess.run([binary, "-f", str(COMPOSE), "config", "-q"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_compose_services_healthchecks_and_loopback_ports() -> None:
    services = _compose_as_json()["services"]
    assert set(services) == SERVICES
    for name in ("postgres", "provider", "toxiproxy"):
        test = " ".join(services[name]["healthcheck"]["test"])
        assert {"postgres": "SELECT 1", "provider": "/healthz", "toxiproxy": "list"}[name] in test
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker  # scalable
    env = worker["environment"]
    assert "@toxiproxy:15432/" in env["DURABENCH_WORKER_POSTGRES_URL"]
    assert env["DURABENCH_WORKER_PROVIDER_URL"] == "http://toxiproxy:18000"
    assert "postgresql://" not in " ".join(worker["command"]), "no DSN in a worker's argv"
    assert worker["depends_on"]["toxiproxy-populate"]["condition"] == (
        "service_completed_successfully")
    assert services["postgres"]["image"] == "${DURABENCH_POSTGRES_IMAGE:-postgres:16}"


# -- with an engine -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def offline_images() -> ImageSet:
    """The offline image set, built once per session when any image is missing."""
    reason = images.engine_available()
    if reason is not None:
        skip_or_fail("docker", f"{reason}; start one with scripts/docker-engine.sh")
    wanted = ImageSet.from_env(offline=True)
    if not all(images.image_exists(name) for name in wanted.names()):
        try:
            images.build_images(BuildOptions(offline=True, images=wanted), log=lambda _: None)
        except ImagesError as exc:
            skip_or_fail("docker", f"the offline images could not be built: {exc}")
    return wanted


def _docker(*argv: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout_s,
                          check=False)


@pytest.fixture
def container() -> Iterator[list[str]]:
    """Run containers with ``docker run -d`` appended here; all are removed afterwards."""
    started: list[str] = []
    yield started
    for cid in started:
        _docker("rm", "-f", "-v", cid, timeout_s=60)


def _run_detached(started: list[str], image: str, options: list[str], port: int) -> int:
    """Start ``image`` with ``docker run`` options, ``port`` published on a free 127.0.0.1
    port; returns that host port."""
    labels = [f"--label={k}={v}" for k, v in LABELS.items()]
    proc = _docker("run", "-d", *labels, "-p", f"127.0.0.1::{port}", *options, image)
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    started.append(cid)
    mapped = _docker("port", cid, f"{port}/tcp").stdout.splitlines()[0]
    return int(mapped.rsplit(":", 1)[1])


def _logs(cid: str) -> str:
    proc = _docker("logs", "--tail", "30", cid)
    return proc.stdout + proc.stderr


def test_the_images_exist(offline_images: ImageSet) -> None:
    for name in (images.BASE_IMAGE, *offline_images.names()):
        assert images.image_exists(name), f"{name} missing after the build"


def test_project_image_imports_the_packages(offline_images: ImageSet) -> None:
    proc = _docker("run", "--rm", offline_images.project, "python", "-c",
                   "import harness, reference_runtime, psycopg, dbos, langgraph, temporalio; "
                   "print('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    proc = _docker("run", "--rm", offline_images.project, "temporal", "--version")
    assert proc.returncode == 0 and "temporal version" in proc.stdout, proc.stderr


def test_the_dockerfiles_default_extras_are_the_images() -> None:
    dockerfile = (Path(__file__).parents[2] / "docker" / "Dockerfile").read_text()
    assert f'ARG EXTRAS="{" ".join(images.IMAGE_EXTRAS)}"' in dockerfile


def test_offline_postgres_answers_a_query(offline_images: ImageSet,
                                          container: list[str]) -> None:
    port = _run_detached(container, offline_images.postgres,
                         ["-e", "POSTGRES_PASSWORD=s3cret", "-e", "POSTGRES_DB=bench"], 5432)
    url = f"postgresql://postgres:s3cret@127.0.0.1:{port}/bench"
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                row = conn.execute("SELECT current_database(), 6 * 7").fetchone()
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"durabench-postgres did not answer in 60 s: {exc}\n"
                            f"{_logs(container[-1])}")
            time.sleep(0.3)
    assert row == ("bench", 42)
    with pytest.raises(psycopg.OperationalError):  # the password is really required over TCP
        psycopg.connect(f"postgresql://postgres:wrong@127.0.0.1:{port}/bench", connect_timeout=3)


def test_toxiproxy_role_answers_version(offline_images: ImageSet, container: list[str]) -> None:
    port = _run_detached(container, offline_images.toxiproxy, [], 8474)
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/version", timeout=3)
            break
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"{offline_images.toxiproxy} did not answer GET /version in 30 s: "
                            f"{exc}\n{_logs(container[-1])}")
            time.sleep(0.3)
    assert response.status_code == 200 and "2.12.0" in response.text
    health = _docker("exec", container[-1], "/toxiproxy-cli", "list")
    assert health.returncode == 0, health.stderr


def test_toxiproxy_image_runs_the_real_server(offline_images: ImageSet) -> None:
    proc = _docker("run", "--rm", offline_images.toxiproxy, "-version")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip()
    label = images.image_label(offline_images.toxiproxy, images.TOXIPROXY_LABEL)
    if "+durabench-embedded" in out:
        skip_or_fail("toxiproxy", f"{offline_images.toxiproxy} runs the embedded server ({out}): "
                                  "build it with DURABENCH_TOXIPROXY_SERVER=/path/to/"
                                  "toxiproxy-server (scripts/build-toxiproxy.sh)")
    assert out == "toxiproxy-server version 2.12.0", out
    assert label == "real 2.12.0", label


def test_embedded_toxiproxy_entrypoint_refuses_flags_it_does_not_implement() -> None:
    """The fallback image's /toxiproxy (a shell script) refuses what it cannot do, and knows
    -version; run here with the host's sh and Python."""
    script = ROOT / "docker" / "toxiproxy-entrypoint.sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    refused = subprocess.run(["sh", str(script), "-config", "/x.json"], capture_output=True,
                             text=True, timeout=30, check=False, env=env)
    assert refused.returncode == 2 and "unsupported argument '-config'" in refused.stderr
    version = subprocess.run(["sh", str(script), "-version"], capture_output=True, text=True,
                             timeout=30, check=False, env=env, cwd=ROOT)
    assert version.stdout.strip() == "toxiproxy-server version 2.12.0+durabench-embedded", (
        version.stderr)


@pytest.fixture
def compose_stack(offline_images: ImageSet) -> Iterator[dict[str, str]]:
    """``docker-compose up`` of the whole stack (offline images, two workers, free loopback
    ports, a project name of its own); always taken down with its volumes."""
    binary = shutil.which("docker-compose")
    if binary is None:
        skip_or_fail("docker", "docker-compose is not installed (scripts/docker-engine.sh)")
    env = {**os.environ, "DURABENCH_IMAGE": offline_images.project,
           "DURABENCH_POSTGRES_IMAGE": offline_images.postgres,
           "DURABENCH_TOXIPROXY_IMAGE": offline_images.toxiproxy,
           "DURABENCH_POSTGRES_PORT": str(free_port()),
           "DURABENCH_PROVIDER_PORT": str(free_port()),
           "DURABENCH_TOXIPROXY_PORT": str(free_port())}
    base = [binary, "-f", str(COMPOSE), "-p", f"durabench-test-{os.getpid()}"]
    try:
        up = subprocess.run([*base, "up", "-d", "--scale", "worker=2"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=180, check=False)
        assert up.returncode == 0, f"docker-compose up failed:\n{up.stdout}{up.stderr}"
        yield env
    finally:
        subprocess.run([*base, "down", "-v", "--timeout", "5"], env=env, cwd=ROOT,
                       capture_output=True, timeout=120, check=False)


def test_a_workflow_runs_through_the_compose_stack(compose_stack: dict[str, str]) -> None:
    from harness import ClientContext, get_sut

    url = (f"postgresql://postgres:durabench@127.0.0.1:"
           f"{compose_stack['DURABENCH_POSTGRES_PORT']}/durabench")
    provider_url = f"http://127.0.0.1:{compose_stack['DURABENCH_PROVIDER_PORT']}"
    with get_sut("reference").connect(ClientContext(url, provider_url)) as client:
        client.start("research_agent", "compose-1", {"turns": 2})
        outcome = client.wait("compose-1", timeout_s=60)
    assert outcome.status == "SUCCESS", outcome
    provider = f"http://127.0.0.1:{compose_stack['DURABENCH_PROVIDER_PORT']}"
    entries = httpx.get(f"{provider}/v1/ledger", timeout=10).json()["entries"]
    assert {e["workflow_id"] for e in entries} == {"compose-1"}
    toxiproxy = f"http://127.0.0.1:{compose_stack['DURABENCH_TOXIPROXY_PORT']}"
    proxies = httpx.get(f"{toxiproxy}/proxies", timeout=10).json()
    assert set(proxies) == {"worker_postgres", "worker_provider"}  # the workers' only way out
