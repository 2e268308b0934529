"""Hardening of the store, the gate and the CLI (issue 14): torn lines, partial runs, impossible
figures, usage errors before anything is created, an atomic ``latest``, signals passed on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report import load_results
from harness.results import append_result
from harness.suite import _point_latest

FIXTURE = Path(__file__).parent / "report" / "fixtures" / "results.jsonl"
REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]


def _trials() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_a_torn_last_line_is_closed_before_appending(tmp_path: Path) -> None:
    trials = _trials()
    store = tmp_path / "r.jsonl"
    store.write_text(json.dumps(trials[0]) + "\n" + json.dumps(trials[1])[:40])  # killed mid-line
    append_result(store, trials[2])
    loaded = load_results([store])
    assert len(loaded.trials) == 2  # the first and the appended one; the torn one is its own line
    assert [issue.line for issue in loaded.errors] == [2]
    assert list(loaded.trials["trial_id"]) == [trials[0]["trial_id"], trials[2]["trial_id"]]


def _run_line(run_id: str, planned: int, finished: int | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"schema": 1, "kind": "run", "run_id": run_id, "planned": planned}
    return line if finished is None else {**line, "finished": finished, "exit_status": 0}


@pytest.mark.parametrize(("lines", "args", "status", "needle"), [
    ([_run_line("r1", 14)], [], 1, "finished = no end recorded of 14"),
    ([_run_line("r1", 14), _run_line("r1", 14, 1)], [], 1, "finished = 1 of 14"),
    ([_run_line("r1", 14), _run_line("r1", 14, 1)], ["--allow-partial"], 0, "gate passed"),
    ([_run_line("r1", 14), _run_line("r1", 14, 14)], [], 0, "gate passed"),
])
def test_the_gate_fails_a_partial_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[dict[str, Any]],
    args: list[str], status: int, needle: str,
) -> None:
    results = _write(tmp_path / "r.jsonl", [lines[0], *_trials(), *lines[1:]])
    assert main(["gate", results, *args]) == status
    captured = capsys.readouterr()
    assert needle in captured.out
    assert "ignoring a line of kind 'run'" not in captured.err


@pytest.mark.parametrize(("figure", "value", "needle"), [
    ("time_to_recover_s", float("inf"), "time_to_recover_s = inf (limit: a finite number)"),
    ("redundant_tokens", -5, "redundant_tokens = -5 (limit: >= 0)"),
    ("cost_usd", float("-inf"), "cost_usd = -inf"),
    ("frontier", -2, "frontier = -2 (limit: >= -1)"),
])
def test_the_gate_rejects_impossible_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], figure: str, value: float, needle: str
) -> None:
    trials = _trials()
    trials[3][figure] = value
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(t) + "\n" for t in trials))  # json writes Infinity
    assert main(["gate", str(results)]) == 1
    assert needle in capsys.readouterr().out


@pytest.mark.parametrize(("figure", "value"), [
    ("completion_delay_s", -0.25),  # a fast trial against a separate golden run, not an error
    ("frontier", -1),  # no step answered before the fault (an orchestrator killed at its start)
])
def test_figures_at_their_lowest_meaningful_value_pass(
    tmp_path: Path, figure: str, value: float
) -> None:
    trials = _trials()
    trials[3][figure] = value
    assert main(["gate", _write(tmp_path / "r.jsonl", trials)]) == 0


def test_the_plugin_records_planned_and_finished(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "test_s.py").write_text(
        "import pytest\n@pytest.mark.parametrize('n', range(3))\ndef test_s(n):\n    pass\n")
    results = pytester.path / "r.jsonl"
    outcome = pytester.runpytest_subprocess("scenarios", "--results", str(results),
                                            "--run-id", "plan-test-1")  # fmt: skip
    assert outcome.ret == 0
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert lines[0]["kind"] == "run" and lines[0]["planned"] == 3
    assert lines[-1]["finished"] == 3 and lines[-1]["run_id"] == "plan-test-1"


@pytest.mark.parametrize("args", [
    ["--trial-timeout", "-5"], ["--trial-timeout", "nan"], ["--trial-timeout", "0"],
    ["--run-id", "a b"],
])
def test_plugin_usage_errors(pytester: pytest.Pytester, args: list[str]) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    assert pytester.runpytest(*args).ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize("args", [
    ["--seeds", "0"], ["--seeds", "-1"], ["--sut", "nosuch"], ["--sut", "reference,nosuch"],
    ["--trial-timeout", "-5"], ["--workers", "0"],
])
def test_suite_usage_errors_exit_2_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    out_root = tmp_path / "reports"
    assert main(["suite", *args, "--out-root", str(out_root)]) == 2
    assert not out_root.exists()
    err = capsys.readouterr().err
    assert "usage: durabench suite" in err and "Traceback" not in err


def test_latest_is_replaced_atomically(tmp_path: Path) -> None:
    (tmp_path / "run-a").mkdir()
    (tmp_path / "run-b").mkdir()
    _point_latest(tmp_path, "run-a")
    assert os.readlink(tmp_path / "latest") == "run-a"
    _point_latest(tmp_path, "run-b")
    assert os.readlink(tmp_path / "latest") == "run-b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "run-a", "run-b"]


_CHILD = """
import signal, sys, time
def bye(signum, frame):
    print(f"child got {signal.Signals(signum).name}", flush=True)
    sys.exit(5)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, bye)
print("child ready", flush=True)
time.sleep(600)
"""
_PARENT = (
    "import sys; from harness.suite import run_forwarding_signals; "
    "sys.exit(run_forwarding_signals([sys.executable, '-c', sys.argv[1]]))"
)


def _parent() -> subprocess.Popen[str]:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, _CHILD], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout is not None and parent.stdout.readline().strip() == "child ready"
    return parent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_durabench_suite_passes_signals_on_once(signum: signal.Signals) -> None:
    parent = _parent()
    parent.send_signal(signum)
    out, _ = parent.communicate(timeout=30)
    assert parent.returncode == 5
    assert out.splitlines() == [f"child got {signum.name}"]


def test_pytest_dies_with_a_sigkilled_durabench(tmp_path: Path) -> None:
    marker = tmp_path / "got"
    child = _CHILD.replace("sys.exit(5)", f"open({str(marker)!r} + '.tmp', 'w').write("
                           "signal.Signals(signum).name); "
                           f"__import__('os').rename({str(marker)!r} + '.tmp', {str(marker)!r}); "
                           "sys.exit(5)")
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, child], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert parent.stdout is not None and parent.stdout.readline().strip() == "child ready"
    parent.kill()
    parent.wait(30)
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "SIGTERM"


def test_the_run_line_records_outcomes_skip_reasons_xfails_and_load(
        pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "test_s.py").write_text(
        "import pytest\n"
        "def test_ok(): pass\n"
        "def test_bad(): assert False\n"
        "def test_skip(): pytest.skip('no memory cgroup here')\n"
        "def test_finding(record_property):\n"
        "    record_property('durabench_trials', ['kill-x-s0'])\n"
        "    pytest.xfail('a known finding')\n")
    results = pytester.path / "r.jsonl"
    pytester.runpytest_subprocess("scenarios", "--results", str(results),
                                  "--run-id", "outcome-test-1")  # fmt: skip
    from harness.run_plan import read_run_summaries

    (summary,) = read_run_summaries([results])
    assert summary.outcomes == {"passed": 1, "failed": 1, "skipped": 1, "xfailed": 1,
                                "xpassed": 0}
    assert summary.skip_reasons == {"no memory cgroup here": 1}
    assert [(x.reason, x.trials) for x in summary.xfails] == [("a known finding",
                                                                ("kill-x-s0",))]
    assert summary.cores == os.cpu_count() and summary.load_1m["samples"] == 4
    assert summary.wall_s is not None and summary.wall_s > 0


def test_progress_lines_start_on_their_own_line_and_name_expected_failures(
        pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "test_s.py").write_text(
        "import pytest\n"
        "def test_ok(durabench_seed): pass\n"  # a durabench fixture marks the test
        "@pytest.fixture\ndef cannot(durabench_seed): pytest.skip('not here')\n"
        "def test_skipped_in_setup(cannot): pass\n"
        "def test_finding(durabench_seed): pytest.xfail('a known finding of X')\n")
    outcome = pytester.runpytest_subprocess("scenarios", "-q", "--results",
                                            str(pytester.path / "r.jsonl"))  # fmt: skip
    lines = [line for line in outcome.outlines if "[durabench] trial" in line]
    assert len(lines) == 3 and all(line.startswith("[durabench] trial") for line in lines)
    assert "expected failure (known finding: a known finding of X)" in lines[2]
    progress_only = [line for line in outcome.outlines
                     if line.strip() and set(line.strip()) <= set(".xs")]
    assert not progress_only
    outcome.assert_outcomes(passed=1, xfailed=1, skipped=1)  # the counts are still pytest's
