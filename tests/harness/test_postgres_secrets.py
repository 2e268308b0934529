"""Postgres passwords: the embedded server demands one, and no URL, argv, log or traceback of ours
shows one (the embedded server's or one given in DURABENCH_POSTGRES_URL)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.env.postgres import (
    ENV_URL,
    EmbeddedPostgres,
    ExternalPostgres,
    PostgresStartError,
    create_database,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(run_id="secrets-test") as pg:
        yield pg


def _password(pg: EmbeddedPostgres) -> str:
    return pg.passfile.read_text().strip().rsplit(":", 1)[1]


def _no_passfile_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGPASSFILE", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.pgpass to fall back on


def test_the_url_names_a_0600_passfile_not_a_password(embedded: EmbeddedPostgres) -> None:
    password = _password(embedded)
    assert len(password) >= 20 and password not in embedded.url
    assert f"passfile={embedded.passfile}" in embedded.url
    assert stat.S_IMODE(embedded.passfile.stat().st_mode) == 0o600
    with psycopg.connect(embedded.url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


@pytest.mark.parametrize("where", ["tcp", "socket"])
def test_without_the_password_nobody_gets_in(
    embedded: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    _no_passfile_env(monkeypatch)
    host = embedded.host if where == "tcp" else str(embedded.root / "sock")
    for password in ("", "wrong"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host=host, port=embedded.port, user="postgres", dbname="postgres",
                            password=password, connect_timeout=5)  # fmt: skip
    hba = (embedded.data_dir / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules), rules


def test_database_urls_keep_working_through_the_passfile(embedded: EmbeddedPostgres) -> None:
    url = create_database(embedded.url, "secrets trial")
    assert _password(embedded) not in url and "passfile=" in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_no_process_of_the_server_shows_the_password(embedded: EmbeddedPostgres) -> None:
    password = _password(embedded).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                assert password not in (entry / "cmdline").read_bytes()
            except OSError:
                continue
    assert not list(embedded.root.glob("*.pw"))  # initdb's password file is gone
    for out in embedded.root.glob("*.out"):
        assert password not in out.read_bytes()


def test_an_external_url_password_moves_into_a_passfile(embedded: EmbeddedPostgres) -> None:
    password = _password(embedded)
    raw = f"postgresql://postgres:{password}@{embedded.host}:{embedded.port}/postgres"
    with ExternalPostgres(raw, run_id="secrets-ext") as external:
        assert password not in external.url and password not in repr(external)
        passfile = Path(psycopg.conninfo.conninfo_to_dict(external.url)["passfile"])
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        with psycopg.connect(create_database(external.url, "ext")) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not passfile.exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_external_postgres_is_one_line_without_the_password() -> None:
    port = _closed_port()
    with pytest.raises(PostgresStartError) as info, ExternalPostgres(
        f"postgresql://postgres:hunter2secret@127.0.0.1:{port}/postgres"
    ):
        pass
    message = str(info.value)
    assert "\n" not in message and "hunter2secret" not in message
    assert ENV_URL in message and "host 127.0.0.1" in message and f"port {port}" in message


@pytest.mark.parametrize("url", [
    "postgresql://postgres:hunter2secret@127.0.0.1:5432/x?nosuchoption=1",
    "user=postgres password hunter2secret",
])
def test_a_malformed_external_url_is_one_line_without_the_password(url: str) -> None:
    with pytest.raises(PostgresStartError) as info:
        ExternalPostgres(url)
    assert "\n" not in str(info.value) and "hunter2secret" not in str(info.value)
    assert ENV_URL in str(info.value)


def test_a_pytest_run_with_an_unreachable_url_never_prints_the_password(tmp_path: Path) -> None:
    (tmp_path / "test_uses_env.py").write_text("def test_env(durabench_env):\n    pass\n")
    env = dict(os.environ, **{ENV_URL: f"postgresql://postgres:hunter2secret@127.0.0.1:"
                                        f"{_closed_port()}/postgres"})  # fmt: skip
    env.pop("DURABENCH_REQUIRE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(tmp_path), "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "--results", str(tmp_path / "r.jsonl")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "hunter2secret" not in output
    assert f"cannot connect to the Postgres named by {ENV_URL}" in output


def test_workers_of_an_external_postgres_never_see_its_password(
    embedded: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.env.local import LocalEnvironment

    password = _password(embedded)
    monkeypatch.setenv(ENV_URL, f"postgresql://postgres:{password}@{embedded.host}:"
                                f"{embedded.port}/postgres")  # fmt: skip
    with LocalEnvironment(run_id="secrets-worker") as env:
        url = env.create_database("w")
        links = env.create_links("w", url)
        worker = env.start_worker(
            "w", "w", [sys.executable, "-c", "import os, psycopg; "
                       "psycopg.connect(os.environ['DSN']).execute('SELECT 1'); "
                       "print('worker w ready', flush=True); import time; time.sleep(600)"],
            extra_env={"DSN": links.postgres_url},
        )
        proc = Path(f"/proc/{worker.pid}")
        assert password.encode() not in (proc / "cmdline").read_bytes()
        assert password.encode() not in (proc / "environ").read_bytes()
        assert password not in env.postgres_url and password not in links.postgres_url
