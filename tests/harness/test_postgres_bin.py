"""Which Postgres binaries the embedded Postgres runs (harness.env.postgres.postgres_bin_dir):
pgserver's unless a SUT needs an extension it lacks, then a system Postgres that has it, or
DURABENCH_POSTGRES_BIN; none at all is one line saying what to install. Real directories with
real control files stand in for Postgres installations (no mocks of the function under test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.env.postgres import (
    CONTRIB_INSTALL,
    ENV_BIN,
    PostgresStartError,
    _bin_dir,
    missing_extensions,
    postgres_bin_dir,
)
from harness.pytest_plugin import check_postgres


def _install(root: Path, major: str, extensions: tuple[str, ...] = ()) -> Path:
    """A Postgres laid out as a source build: <root>/<major>/bin/initdb, share/extension."""
    bin_dir = root / major / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "initdb").write_text("")
    ext = root / major / "share" / "postgresql" / "extension"
    ext.mkdir(parents=True)
    for name in extensions:
        (ext / f"{name}.control").write_text("")
    return bin_dir


@pytest.fixture(autouse=True)
def _no_bin_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_BIN, raising=False)


def test_without_extensions_pgserver_runs() -> None:
    assert postgres_bin_dir() == _bin_dir()
    assert postgres_bin_dir(["plpgsql"]) == _bin_dir()  # pgserver has it


def test_pgserver_lacks_uuid_ossp() -> None:
    assert missing_extensions(_bin_dir(), ["uuid-ossp", "plpgsql"]) == ["uuid-ossp"]


def test_the_newest_system_postgres_with_the_extension_is_chosen(tmp_path: Path) -> None:
    _install(tmp_path, "13", ("uuid-ossp",))
    fifteen = _install(tmp_path, "15", ("uuid-ossp",))
    _install(tmp_path, "17")  # newer, but without contrib
    assert postgres_bin_dir(["uuid-ossp"], "dbos==2.23.0", str(tmp_path / "*" / "bin")) == fifteen


def test_no_postgres_with_the_extension_is_one_line_saying_what_to_install(
        tmp_path: Path) -> None:  # fmt: skip
    _install(tmp_path, "15")
    with pytest.raises(PostgresStartError) as caught:
        postgres_bin_dir(["uuid-ossp"], "dbos==2.23.0", str(tmp_path / "*" / "bin"))
    message = str(caught.value)
    assert "\n" not in message
    assert "lacks the extension(s) uuid-ossp that dbos==2.23.0 needs" in message
    assert f"`{CONTRIB_INSTALL}`" in message and ENV_BIN in message


def test_durabench_postgres_bin_wins_and_is_checked(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _install(tmp_path, "14", ("uuid-ossp",))
    monkeypatch.setenv(ENV_BIN, str(chosen))
    assert postgres_bin_dir() == chosen
    assert postgres_bin_dir(["uuid-ossp"]) == chosen
    with pytest.raises(PostgresStartError, match=f"^the Postgres of {ENV_BIN}=.* lacks the "
                                                 "extension.s. pg_trgm that x needs"):
        postgres_bin_dir(["pg_trgm"], "x")
    monkeypatch.setenv(ENV_BIN, str(tmp_path))
    with pytest.raises(PostgresStartError, match="has no initdb"):
        postgres_bin_dir()


def test_a_pinned_dbos_2_without_a_contrib_postgres_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv(ENV_BIN, str(_install(tmp_path, "15")))
    monkeypatch.delenv("DURABENCH_POSTGRES_URL", raising=False)
    with pytest.raises(pytest.UsageError, match=r"^--sut: .*uuid-ossp that dbos==2\.23\.0 needs"):
        check_postgres(["dbos==2.23.0", "dbos"])
    check_postgres(["dbos", "plain"])  # nothing needed: nothing checked
