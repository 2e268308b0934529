"""The SUT registry: entry points of the group ``durabench.suts``, loaded lazily and validated."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from sut_dists import BROKEN_IMPORT, MISSING_PARTS, UNAVAILABLE_SUT, register

from harness.sut import (
    REQUIRED_ATTRIBUTES,
    SutLoadError,
    UnknownSutError,
    available_sut_names,
    get_sut,
    registrations,
    sut_names,
)
from harness.sut._catalog import run_suts


def test_the_built_in_suts_are_registered_like_a_third_party_s() -> None:
    regs = registrations()
    for name, value in [("reference", "harness.sut.reference:REFERENCE"),
                        ("reference-nockpt", "harness.sut.reference:REFERENCE_NOCKPT"),
                        ("reference-resume", "harness.sut.reference:REFERENCE_RESUME"),
                        ("plain", "harness.sut.plain:PLAIN")]:  # fmt: skip
        assert regs[name].value == value and regs[name].distribution == "durabench"
        sut = get_sut(name)
        assert sut.name == name and all(hasattr(sut, a) for a in REQUIRED_ATTRIBUTES)
    assert get_sut("reference").twin == "reference-nockpt"
    assert get_sut("reference-resume").twin == "reference-nockpt"
    assert get_sut("plain").promises == {"terminates", "single_outcome", "effects_once"}
    assert {"reference", "reference-nockpt", "plain"} <= set(available_sut_names())


def test_an_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownSutError, match=r"unknown SUT 'nope'; registered SUTs: .*plain"):
        get_sut("nope")


def _dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    module = "fake_" + name.replace("-", "_")
    register(tmp_path / name, f"fake-{name}-dist", {module: source.format(name=name)},
             {name: f"{module}:SUT"})  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path / name))


def test_a_failing_entry_point_names_the_distribution_and_the_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dist(tmp_path, monkeypatch, "broken-import", BROKEN_IMPORT)
    assert "broken-import" in sut_names(), "listing reads metadata only and never imports"
    with pytest.raises(SutLoadError) as failure:
        get_sut("broken-import")
    message = str(failure.value)
    assert "'broken-import'" in message and "'fake-broken-import-dist'" in message
    assert "failed to import: ModuleNotFoundError" in message
    assert "fake_broken_import:SUT" in message


def test_an_adapter_missing_part_of_the_protocol_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dist(tmp_path, monkeypatch, "half-done", MISSING_PARTS)
    with pytest.raises(SutLoadError) as failure:
        get_sut("half-done")
    message = str(failure.value)
    assert "'fake-half-done-dist'" in message and "does not follow the SUT protocol" in message
    assert "HalfDone lacks promises, twin, recovery_policies, durable_store, available, " \
           "describe, services, connect" in message  # fmt: skip


def test_durabench_suts_lists_every_registered_sut_installed_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _dist(tmp_path, monkeypatch, "not-installed", UNAVAILABLE_SUT)
    assert run_suts(argparse.Namespace(json=True)) == 0
    entries = {e["name"]: e for e in map(json.loads, capsys.readouterr().out.splitlines())}
    gone = entries["not-installed"]
    assert gone["status"] == "unavailable"
    assert "pip install 'durabench[fakedb]'" in gone["unavailable_reason"]
    assert entries["plain"]["status"] == "available"
    assert entries["plain"]["recovery_policies"] == ["delayed", "restart", "rolling", "standby"]
    assert entries["reference"]["twin"] == "reference-nockpt"
    assert "not-installed" not in available_sut_names()

    _dist(tmp_path, monkeypatch, "broken-too", BROKEN_IMPORT)
    assert run_suts(argparse.Namespace(json=False)) == 1, "a broken entry point fails the listing"
    out = capsys.readouterr().out
    assert "broken-too: BROKEN" in out and "not-installed: not available: fakedb" in out
