"""What the dbos adapter does differently on older DBOS releases: decided from the version in
one place (harness.sut.dbos._features), declared as Postgres extensions and notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sut import InstalledRelease, NeedsPostgresExtensions, postgres_extensions_of
from harness.sut.dbos import DBOS_SUT, SUPPORTED_RELEASES, DbosSut
from harness.sut.dbos._features import EPOCH_WITHOUT_TOKEN, OLDEST, features_of


@pytest.mark.parametrize(
    ("version", "token", "output_table", "reenqueue", "retried", "register", "ossp"), [
        ("2.14.0", False, False, False, False, False, True),
        ("2.20.0", False, False, False, False, True, True),
        ("2.23.0", False, False, False, False, True, True),
        ("2.24.0", False, False, False, True, True, True),
        ("2.29.0", False, False, True, True, True, True),
        ("2.31.1", False, False, True, True, True, True),
        ("3.0.0", False, True, True, True, True, False),
        ("3.1.0", False, True, True, True, True, False),
        ("3.2.0", True, True, True, True, True, False),
        ("3.4.0", True, True, True, True, True, False),
    ])
def test_features_follow_the_release(version: str, token: bool, output_table: bool,
                                     reenqueue: bool, retried: bool, register: bool,
                                     ossp: bool) -> None:
    f = features_of(version)
    assert (f.owner_token, f.output_table, f.reenqueue_recovery, f.recovery_write_retried,
            f.register_queue, f.uuid_ossp, f.admin_server) == (
        token, output_table, reenqueue, retried, register, ossp, ossp)  # fmt: skip
    assert f.postgres_extensions == (frozenset({"uuid-ossp"}) if ossp else frozenset())


def test_the_supported_range_starts_at_the_portable_serializer() -> None:
    assert SUPPORTED_RELEASES == f">={OLDEST}" == ">=2.14.0"


def _pinned(version: str) -> DbosSut:
    """dbos==version as get_sut makes it, on a release environment that is never run here."""
    release = InstalledRelease(Path("/nonexistent"), "/nonexistent/bin/python", {"dbos": version})
    return DBOS_SUT.with_release(f"dbos=={version}", release, "plain")


def test_a_pinned_2x_needs_uuid_ossp_and_says_its_epoch_is_weaker() -> None:
    old = _pinned("2.23.0")
    assert isinstance(old, NeedsPostgresExtensions)
    assert old.postgres_extensions == frozenset({"uuid-ossp"})
    assert EPOCH_WITHOUT_TOKEN in old.describe().notes
    assert _pinned("3.1.0").postgres_extensions == frozenset()
    assert EPOCH_WITHOUT_TOKEN in _pinned("3.1.0").describe().notes
    assert EPOCH_WITHOUT_TOKEN not in _pinned("3.2.0").describe().notes
    assert DBOS_SUT.postgres_extensions == frozenset()
    assert EPOCH_WITHOUT_TOKEN not in DBOS_SUT.describe().notes


def test_a_release_whose_recovery_drops_a_workflow_on_a_lost_connection_says_so() -> None:
    def said(version: str) -> bool:
        return any("recovery loop logs the error" in n for n in _pinned(version).describe().notes)

    assert said("2.23.0") and not said("2.24.0") and not said("3.4.0")


def test_a_release_whose_recovery_acts_on_a_stale_read_says_so() -> None:
    def said(version: str) -> bool:
        return any("stale read" in n for n in _pinned(version).describe().notes)

    assert said("2.28.0") and not said("2.29.0") and not said("3.4.0")


def test_the_extensions_a_run_needs_name_the_suts_that_need_them() -> None:
    # get_sut installs the pin once (cached): the registry's path, as --sut takes it
    assert postgres_extensions_of(["dbos==2.23.0", "dbos", "plain"]) == {
        "uuid-ossp": "dbos==2.23.0"}
    assert postgres_extensions_of(["dbos", "plain", "reference"]) == {}


def test_the_release_client_helper_reports_its_failure_in_one_line() -> None:
    # The helper on this interpreter (the installed DBOS): a request it cannot answer comes back
    # as one line with its text; a helper that dies says so with its exit code.
    import sys

    from harness.sut.dbos._release_process import ReleaseClientError, ReleaseClientProcess

    release = InstalledRelease(Path(sys.prefix), sys.executable, {"dbos": "3.4.0"})
    helper = ReleaseClientProcess(release, "host=127.0.0.1 port=1 dbname=x user=x")
    try:
        with pytest.raises(ReleaseClientError, match="^dbos 3.4.0's DBOSClient failed "
                                                     r"\(nope\): unknown request 'nope'$"):
            helper._call({"op": "nope"})
    finally:
        helper.close()
    assert helper._proc.returncode == 0  # closing its stdin ended it
    dead = ReleaseClientProcess(InstalledRelease(Path("/"), "/bin/false", {"dbos": "2.23.0"}), "")
    try:
        with pytest.raises(ReleaseClientError, match=r"^the client helper of dbos 2\.23\.0 .* "
                                                     "failed: it exited with code 1;"):
            dead.enqueue("research_agent", "wf-1", {})
    finally:
        dead.close()
