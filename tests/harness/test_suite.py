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


def test_quick_runs_each_fault_family_once_on_reference_and_one_peer() -> None:
    from harness.suite import QUICK_SCENARIOS, QUICK_SUTS

    argv = _argv("--quick")
    assert argv[argv.index("--sut") + 1] == QUICK_SUTS
    assert [a for a in argv if a.startswith("scenarios/")] == list(QUICK_SCENARIOS)
    assert all(Path(__file__).resolve().parents[2].joinpath(p).is_file() for p in QUICK_SCENARIOS)
    chosen = _argv("--quick", "--sut", "reference", "scenarios/test_kill.py")
    assert chosen[chosen.index("--sut") + 1] == "reference"
    assert [a for a in chosen if a.startswith("scenarios")] == ["scenarios/test_kill.py"]
    assert "scenarios" in _argv()


def test_the_suite_ends_with_status_counts_and_the_report_path(tmp_path: Path) -> None:
    from harness.report import load_results, write_report
    from harness.suite import closing_lines

    example = Path(__file__).resolve().parents[2] / "tests" / "report" / "fixtures"
    files = write_report(load_results([example / "real_run.jsonl"]), tmp_path / "r")
    lines = closing_lines(files)
    scenarios = files.headline.splitlines()
    assert lines[:len(scenarios)] == scenarios and len(scenarios) == 4  # one per scenario
    assert lines[len(scenarios)].startswith("PASSED: all ")
    assert lines[len(scenarios) + 1].startswith("Trials: ")
    assert lines[-1] == f"report: {tmp_path / 'r' / 'index.html'}"


def test_the_suite_passes_a_shard_on_and_needs_a_shared_run_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _argv("--shard", "2/3", "--run-id", "ci_run_42")
    assert argv[argv.index("--shard") + 1] == "2/3"
    assert "--shard" not in _argv()
    out = str(tmp_path / "out")
    assert main(["suite", "--shard", "3/2", "--out-root", out]) == 2
    assert "K must be 1..N" in capsys.readouterr().err
    assert main(["suite", "--shard", "1/2", "--out-root", out]) == 2
    assert "--shard needs --run-id" in capsys.readouterr().err
    assert not Path(out).exists()
