"""The durabench CLI: `report` and `gate` exit statuses and messages, in process and as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.cli import build_parser, main

FIXTURE = Path(__file__).parent / "report" / "fixtures" / "results.jsonl"
REPO = Path(__file__).resolve().parent.parent


def _trials() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, records: Sequence[dict[str, Any] | str]) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
                    encoding="utf-8")
    return str(path)


def test_parser_has_report_and_gate() -> None:
    parser = build_parser()
    assert parser.parse_args(["gate", "r.jsonl"]).command == "gate"
    assert parser.parse_args(["report", "r.jsonl", "--out", "d"]).out == "d"


def test_report_prints_path_and_headline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(FIXTURE), "--out", str(tmp_path / "r"), "--title", "T"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"report: {tmp_path / 'r' / 'index.html'}"
    assert out[1].startswith("kill: redundant tokens p50 2,190 with checkpointing (1 runtime) "
                             "vs 7,350 without (1 runtime)")
    assert (tmp_path / "r" / "summary.md").read_text().startswith("## T\n")


def test_report_names_bad_lines_and_reports_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trials = _trials()
    results = _write(tmp_path / "r.jsonl", [trials[0], '{"broken', trials[1]])
    assert main(["report", results, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{results}:2: error: not valid JSON" in err
    assert "Traceback" not in err
    csv_lines = (tmp_path / "out" / "trials.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 2


def test_report_missing_input_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("durabench report: cannot read results file") and "\n" not in err


@pytest.mark.parametrize(
    ("change", "args", "status"),
    [
        ({}, [], 0),
        ({"verdicts.no_replay": "false", "valid": "false"}, [], 1),
        ({"verdicts.no_replay": "false", "valid": "false"}, ["--allow-unknown"], 1),
        ({"verdicts.terminates": "unknown", "valid": "unknown"}, [], 1),
        ({"verdicts.terminates": "unknown", "valid": "unknown"}, ["--allow-unknown"], 0),
        ({}, ["--max-ttr-p95", "2.0"], 1),
        ({}, ["--max-ttr-p95", "10"], 0),
        ({}, ["--max-redundant-ratio", "0.1"], 1),
        ({}, ["--max-redundant-ratio", "0.5"], 0),
    ],
)
def test_gate_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], args: list[str],
    status: int,
) -> None:
    trials = _trials()
    for key, value in change.items():
        if key.startswith("verdicts."):
            trials[5]["verdicts"][key.removeprefix("verdicts.")] = value
        else:
            trials[5][key] = value
    assert main(["gate", _write(tmp_path / "r.jsonl", trials), *args]) == status
    out = capsys.readouterr().out
    assert out.startswith("gate passed" if status == 0 else "gate FAILED")


def test_gate_fails_on_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["gate", str(empty), "--allow-unknown"]) == 1
    assert "an empty store never passes" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    ["this is not json\n", '{"schema": 99, "kind": "trial"}\n', "\x00\x01garbage\n"],
)
def test_gate_refuses_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(_trials()[0]) + "\n" + content)
    assert main(["gate", str(results)]) == 2
    err = capsys.readouterr().err
    assert f"{results}:2: error:" in err and "cannot judge" in err


@pytest.mark.parametrize(
    "argv",
    [[], ["gate"], ["gate", "r.jsonl", "--max-ttr-p95", "soon"],
     ["gate", "r.jsonl", "--max-redundant-ratio", "-1"], ["report", "r.jsonl"], ["nonsense"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: durabench" in capsys.readouterr().err


def test_module_entry_point_runs_as_a_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    command = [sys.executable, "-m", "harness.cli", "gate", str(FIXTURE)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gate passed: 36 trials")
    missing = subprocess.run([*command[:-1], str(tmp_path / "missing.jsonl")],
                             capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and "cannot read results file" in missing.stderr


def _run_lines(run_id: str, xfail_trials: list[str]) -> list[dict[str, Any]]:
    start = {"schema": 1, "kind": "run", "run_id": run_id, "planned": 1,
             "started_at": "2026-11-26T09:15:00Z"}
    end = {**start, "finished": 1, "exit_status": 0,
           "outcomes": {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 1, "xpassed": 0},
           "xfails": [{"test": "scenarios/test_kill.py::test_x[reference-seed0]",
                       "reason": "known finding of reference: a checked and documented bug",
                       "trials": xfail_trials}]}
    return [start, end]


def test_the_gate_reports_a_known_finding_and_passes_but_fails_an_unlisted_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A trial its run lists as an expected failure (a SUT's known finding) breaks a verdict:
    the gate names it and passes; the same break in a trial the run did not expect fails."""
    trials = _trials()
    trials[5]["verdicts"]["terminates"] = "false"
    trials[5]["valid"] = "false"
    run_id = trials[5]["run_id"]
    listed = _write(tmp_path / "known.jsonl",
                    [*trials, *_run_lines(run_id, [trials[5]["trial_id"]])])
    assert main(["gate", listed]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gate passed") and "1 known finding(s)" in out, out
    assert f"KNOWN {trials[5]['sut']} [{trials[5]['trial_id']}]: terminates = false" in out, out
    other = _write(tmp_path / "other.jsonl",
                   [*trials, *_run_lines(run_id, [trials[6]["trial_id"]])])
    assert main(["gate", other]) == 1
    assert "gate FAILED" in capsys.readouterr().out
    elsewhere = _write(tmp_path / "elsewhere.jsonl",  # the same trial id, listed by another run
                       [*trials, *_run_lines("20991231T000000", [trials[5]["trial_id"]])])
    assert main(["gate", elsewhere, "--allow-partial"]) == 1
