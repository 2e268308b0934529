"""``--sut NAME==VERSION``: spec parsing, the errors a user can hit, the cached release environment
(built once, reused, never twice in parallel) and one real trial on a pinned older DBOS release.

The environment tests install from the package registry (PyPI) into a temp cache; the trial uses
the default cache (``DURABENCH_CACHE_DIR`` or ``~/.cache/durabench``), like a scenario run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import ResultRecord, upgrade_2_to_3
from harness.suite import _sut_list
from harness.sut import ReleaseError, SutSpec, _releases, get_sut, parse_sut_spec, sut_versions
from harness.sut._releases import ENV_HOST_PATH, ReleaseSupport, ensure_release, pip_failure
from harness.sut.dbos import DBOS_SUT

OLDER_DBOS = "3.2.0"
"""The oldest DBOS release the adapter supports (older than the one ``./dev setup`` installs)."""
PY = f"py{sys.version_info.major}.{sys.version_info.minor}"
DBOS = ReleaseSupport(("dbos",), ">=3.2.0")


@pytest.mark.parametrize(("text", "expected"), [
    ("dbos", SutSpec("dbos")),
    (" dbos ", SutSpec("dbos")),
    ("dbos==2.23.0", SutSpec("dbos", "2.23.0")),
    ("langgraph-nockpt == 1.0.1", SutSpec("langgraph-nockpt", "1.0.1")),
    ("temporal==1.20", SutSpec("temporal", "1.20")),
    ("dbos==03.2.0", SutSpec("dbos", "3.2.0")),
])  # fmt: skip
def test_a_sut_spec_is_a_name_optionally_pinned_to_one_release(text: str, expected: SutSpec,
                                                               ) -> None:
    assert parse_sut_spec(text) == expected
    assert str(parse_sut_spec(str(expected))) == str(expected)


@pytest.mark.parametrize(("text", "says"), [
    ("dbos>=3.0", "pin one release with NAME==VERSION"),
    ("dbos=3.2.0", "pin one release with NAME==VERSION"),
    ("dbos==", "expected NAME==VERSION"),
    ("==3.2.0", "expected NAME==VERSION"),
    ("dbos===3.2.0", "expected NAME==VERSION"),
    ("dbos==latest", "'latest' is not a release version"),
])  # fmt: skip
def test_a_malformed_spec_says_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ReleaseError, match=says):
        parse_sut_spec(text)


def test_a_release_outside_the_adapters_range_is_refused_before_anything_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DURABENCH_CACHE_DIR", str(tmp_path))
    with pytest.raises(ReleaseError) as caught:
        get_sut("dbos==2.13.0")
    message = str(caught.value)
    assert "\n" not in message
    assert "outside the releases the dbos adapter supports (dbos>=2.14.0" in message
    assert "run `--sut dbos`" in message
    assert not (tmp_path / "releases").exists()


def test_a_sut_without_release_support_cannot_be_pinned() -> None:
    with pytest.raises(ReleaseError, match="runs only the release installed with it"):
        get_sut("reference==0.1.0")


def test_every_peer_declares_a_release_range() -> None:
    for name in ("dbos", "temporal", "langgraph", "langgraph-nockpt"):
        support = get_sut(name).release_support  # type: ignore[attr-defined]
        assert support.packages and support.supported


def test_pips_failure_is_one_line_that_says_what_to_do() -> None:
    stderr = ("WARNING: Location 'file:///opt/x' is ignored\n"
              "ERROR: Could not find a version that satisfies the requirement dbos==9.9.9 "
              "(from versions: 0.1.0, 3.4.0)\n"
              "ERROR: No matching distribution found for dbos==9.9.9\n")  # fmt: skip
    line = pip_failure(stderr, DBOS, "9.9.9")
    assert line == ("the package registry has no release dbos==9.9.9 (pip: No matching "
                    "distribution found for dbos==9.9.9); pick one from "
                    "`pip index versions dbos`")  # fmt: skip


def test_the_plugin_and_the_suite_cli_accept_pins_and_refuse_bad_ones() -> None:
    from harness.pytest_plugin import resolve_suts

    assert _sut_list("dbos==3.2.0, dbos") == "dbos==3.2.0,dbos"
    with pytest.raises(Exception, match="unknown SUT"):
        _sut_list("nosuch==1.0")
    with pytest.raises(pytest.UsageError, match=r"^--sut: dbos==2\.13\.0: dbos 2\.13\.0 is out"):
        resolve_suts("dbos==2.13.0")


def test_a_schema_2_line_reads_with_the_version_its_pin_names() -> None:
    assert upgrade_2_to_3({"schema": 2, "sut": "dbos==3.2.0"})["sut_version"] == "3.2.0"
    expected = {"schema": 3, "sut": "dbos", "shard": None, "sut_version": ""}
    assert upgrade_2_to_3({"schema": 2, "sut": "dbos"}) == expected


# -- real installs from the package registry -------------------------------------------------


@pytest.mark.slow
def test_an_unknown_release_fails_in_one_line_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError) as caught:
        ensure_release(DBOS, "99.0.0", "dbos", root=tmp_path)
    message = str(caught.value)
    assert message.startswith("dbos==99.0.0: the package registry has no release dbos==99.0.0")
    assert "\n" not in message and "Traceback" not in message
    assert [p.name for p in (tmp_path / "releases").iterdir()] == [f"dbos-99.0.0-{PY}.lock"]


@pytest.mark.slow
def test_a_release_is_installed_once_and_reused(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first = ensure_release(DBOS, OLDER_DBOS, "dbos", root=tmp_path)
    assert first.versions == {"dbos": OLDER_DBOS}
    assert first.path.name == f"dbos-{OLDER_DBOS}-{PY}"
    marker = first.path / "marker"
    marker.write_text("still here")

    def no_second_install(*args: object) -> None:
        raise AssertionError("the cached release was installed again")

    monkeypatch.setattr(_releases, "_build", no_second_install)
    second = ensure_release(DBOS, OLDER_DBOS, "dbos", root=tmp_path)
    assert second == first and marker.read_text() == "still here"
    assert not list((tmp_path / "releases").glob("*.partial"))


@pytest.mark.slow
def test_parallel_resolves_install_once(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from harness.sut._releases import *; "
              "r = ensure_release(ReleaseSupport(('dbos',), '>=3.2.0'), sys.argv[1], 'dbos', "
              "root=Path(sys.argv[2])); print(r.versions['dbos'])")  # fmt: skip
    runs = [subprocess.Popen([sys.executable, "-c", script, OLDER_DBOS, str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = [r.communicate(timeout=600) for r in runs]
    assert [out.strip() for out, _ in outputs] == [OLDER_DBOS, OLDER_DBOS]
    installs = sum(err.count("[durabench] installing dbos==") for _, err in outputs)
    assert installs == 1, [err for _, err in outputs]


@pytest.mark.slow
def test_the_release_wins_over_the_harnesss_own_packages_and_the_harness_still_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DURABENCH_CACHE_DIR", str(tmp_path))
    sut = get_sut(f"dbos=={OLDER_DBOS}")
    assert sut.name == f"dbos=={OLDER_DBOS}" and sut.twin == "plain"
    assert sut_versions(sut) == (OLDER_DBOS, {"dbos": OLDER_DBOS})
    command = sut.worker_command  # the adapter's interpreter and the environment it needs
    python = sut.python  # type: ignore[attr-defined]
    assert python.startswith(str(tmp_path / "releases"))
    env = {**os.environ, ENV_HOST_PATH: _releases.host_path()}
    probe = ("import importlib.metadata as m, json, dbos, harness.sut.dbos.worker, psycopg; "
             "print(json.dumps([m.version('dbos'), dbos.__file__, harness.__file__]))")  # fmt: skip
    done = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    version, dbos_file, harness_file = json.loads(done.stdout)
    assert version == OLDER_DBOS and dbos_file.startswith(str(tmp_path))
    assert Path(harness_file).parent.parent == Path(_releases.__file__).parents[2]
    assert command is not None


# -- one real trial ------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(DBOS_SUT.available() is not None, reason=str(DBOS_SUT.available()))
def test_the_kill_scenario_on_a_pinned_older_dbos_recovers_and_records_the_release(
    tmp_path: Path,
) -> None:
    """``pytest scenarios/test_kill.py --sut dbos==3.2.0``, as a user runs it (default cache)."""
    results = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios/test_kill.py", "-k",
         "test_kill_recovers and mid_step_early-restart", "--sut", f"dbos=={OLDER_DBOS}",
         "--results", str(results), "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={k: v for k, v in os.environ.items() if k != "DURABENCH_RUN_ID"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    trials = [ResultRecord.from_json(d) for d in lines if d.get("kind") == "trial"]
    assert len(trials) == 1 and trials[0].valid == "true", trials
    line = trials[0]
    assert line.sut == f"dbos=={OLDER_DBOS}" and line.sut_version == OLDER_DBOS
    assert line.versions["dbos"] == OLDER_DBOS and line.schema == 3
    assert line.trial_id.startswith(f"kill-dbos=={OLDER_DBOS}-")
