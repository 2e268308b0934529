"""What the dbos adapter does differently on older DBOS releases: decided from the version in
one place (harness.sut.dbos._features), declared as Postgres extensions and notes."""

from __future__ import annotations

import pytest

from harness.sut import NeedsPostgresExtensions, get_sut, postgres_extensions_of
from harness.sut.dbos import SUPPORTED_RELEASES
from harness.sut.dbos._features import EPOCH_WITHOUT_TOKEN, OLDEST, features_of


@pytest.mark.parametrize(("version", "token", "output_table", "reenqueue", "register", "ossp"), [
    ("2.14.0", False, False, False, False, True),
    ("2.20.0", False, False, False, True, True),
    ("2.23.0", False, False, False, True, True),
    ("2.29.0", False, False, True, True, True),
    ("2.31.1", False, False, True, True, True),
    ("3.0.0", False, True, True, True, False),
    ("3.1.0", False, True, True, True, False),
    ("3.2.0", True, True, True, True, False),
    ("3.4.0", True, True, True, True, False),
])
def test_features_follow_the_release(version: str, token: bool, output_table: bool,
                                     reenqueue: bool, register: bool, ossp: bool) -> None:
    f = features_of(version)
    assert (f.owner_token, f.output_table, f.reenqueue_recovery, f.register_queue,
            f.uuid_ossp, f.admin_server) == (token, output_table, reenqueue, register, ossp,
                                             ossp)  # fmt: skip
    assert f.postgres_extensions == (frozenset({"uuid-ossp"}) if ossp else frozenset())


def test_the_supported_range_starts_at_the_portable_serializer() -> None:
    assert SUPPORTED_RELEASES == f">={OLDEST}" == ">=2.14.0"


def test_a_pinned_2x_needs_uuid_ossp_and_says_its_epoch_is_weaker(
        tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    # get_sut installs the pin once (cached); 2.23.0 is the release the README names
    old = get_sut("dbos==2.23.0")
    assert isinstance(old, NeedsPostgresExtensions)
    assert old.postgres_extensions == frozenset({"uuid-ossp"})
    assert EPOCH_WITHOUT_TOKEN in old.describe().notes
    assert postgres_extensions_of(["dbos==2.23.0", "dbos", "plain"]) == {
        "uuid-ossp": "dbos==2.23.0"}
    assert get_sut("dbos").postgres_extensions == frozenset()  # type: ignore[attr-defined]
    assert EPOCH_WITHOUT_TOKEN not in get_sut("dbos").describe().notes
