"""``durabench suite`` runs every installed SUT by default; ``durabench suts`` lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.suite import _pytest_argv


def _argv(*args: str) -> list[str]:
    parsed = build_parser().parse_args(["suite", *args])
    return _pytest_argv(parsed, Path("r.jsonl"), "20261130T000000-test")


def test_the_suite_runs_every_installed_sut_by_default() -> None:
    argv = _argv()
    assert argv[argv.index("--sut") + 1] == "all"
    chosen = _argv("--sut", "reference,plain")
    assert chosen[chosen.index("--sut") + 1] == "reference,plain"


def test_durabench_suts_lists_the_built_in_suts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suts"]) == 0
    out = capsys.readouterr().out
    for line in ("plain: available", "reference: available", "reference-nockpt: available",
                 "  checkpointing: on; twin: reference-nockpt",
                 "  promises: terminates, single_outcome, effects_once"):  # fmt: skip
        assert line in out.splitlines(), out
