"""Several stores, the shards of one run, merge into one report and one gate verdict; stores of
different runs, and a trial in two stores, are refused. Built from the real store of the example
report (reports/example/results.jsonl, 305 trials), split by scenario group as ``--shard`` does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.cli import main
from harness.report import (
    StoreMergeError,
    headline,
    load_results,
    savings_table,
    summary_table,
    verdict_table,
)
from harness.run_plan import read_run_summaries, run_label

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "reports" / "example" / "results.jsonl"


def _lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EXAMPLE.read_text().splitlines()]


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _split(tmp_path: Path) -> tuple[Path, Path]:
    """Store A: every other scenario (sorted) and the run lines; store B: the rest."""
    lines = _lines()
    scenarios = sorted({x["scenario"] for x in lines if x["kind"] != "run"})
    first = set(scenarios[::2])
    a = [x for x in lines if x["kind"] == "run" or x.get("scenario") in first]
    b = [x for x in lines if x["kind"] != "run" and x.get("scenario") not in first]
    assert len(a) > 50 and len(b) > 50
    return _write(tmp_path / "a.jsonl", a), _write(tmp_path / "b.jsonl", b)


def _by_trial(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["trial_id", "fault", "trigger", "workload_params", "trigger_spec"]
    return (frame.drop(columns=["source", "line"]).sort_values(keys, kind="stable")
            .reset_index(drop=True))


def test_merging_two_shards_equals_the_whole_store(tmp_path: Path) -> None:
    a, b = _split(tmp_path)
    whole = load_results([EXAMPLE])
    merged = load_results([a, b])
    assert len(merged.trials) == len(whole.trials) == 305  # 306 lines, one trial twice
    pd.testing.assert_frame_equal(_by_trial(merged.trials), _by_trial(whole.trials),
                                  check_like=True)  # every verdict and figure of every trial
    for table in (summary_table, savings_table, verdict_table):
        pd.testing.assert_frame_equal(table(merged.trials), table(whole.trials))
    assert headline(merged.trials) == headline(whole.trials)
    assert read_run_summaries(merged.sources) == read_run_summaries(whole.sources)
    def said(loaded: Any) -> list[str]:
        return [w.message.split(" is already at")[0] for w in loaded.warnings]

    assert said(merged) == said(whole) and len(said(whole)) == 1  # the shared trial id, as before


def test_the_gate_and_the_report_read_the_shards_as_one_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _split(tmp_path)
    assert main(["gate", str(EXAMPLE)]) == 0
    whole = capsys.readouterr().out.splitlines()[0]
    assert main(["gate", str(a), str(b)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == whole  # "gate passed: 305 trials ..."
    assert main(["gate", str(b)]) == 0  # B alone has no run line: nothing says it is partial
    capsys.readouterr()
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "merged")]) == 0
    assert main(["report", str(EXAMPLE), "--out", str(tmp_path / "whole")]) == 0
    for name in ("summary.csv", "savings.csv"):
        assert ((tmp_path / "merged" / name).read_text()
                == (tmp_path / "whole" / name).read_text())


def _shard_store(path: Path, shard: str, trials: list[dict[str, Any]],
                 run_id: str = "20261130T123914-3d8593") -> Path:
    run = {"schema": 1, "kind": "run", "run_id": run_id, "shard": shard}
    return _write(path, [{**run, "planned": len(trials)},
                         *[{**t, "shard": shard, "schema": 3, "run_id": f"{run_id}-gw0"}
                           for t in trials],
                         {**run, "planned": len(trials), "finished": len(trials),
                          "exit_status": 0}])


def test_the_gate_fails_a_sharded_run_with_a_shard_store_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trials = [x for x in _lines() if x["kind"] == "trial"]
    a = _shard_store(tmp_path / "a.jsonl", "1/2", trials[:3])
    b = _shard_store(tmp_path / "b.jsonl", "2/2", trials[3:5])
    assert main(["gate", str(a)]) == 1
    assert ("FAIL (run) / 20261130T123914-3d8593 shard 2/2: results store = not given"
            in capsys.readouterr().out)
    assert main(["gate", str(a), "--allow-partial"]) == 0
    assert main(["gate", str(a), str(b)]) == 0
    assert "gate passed: 5 trials" in capsys.readouterr().out
    summaries = read_run_summaries([a, b])
    assert len(summaries) == 2  # one per shard: the report adds their test counts up


def test_a_trial_in_two_stores_is_refused_naming_it_and_both_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trials = [x for x in _lines() if x["kind"] == "trial"]
    a = _write(tmp_path / "a.jsonl", trials[:4])
    b = _write(tmp_path / "b.jsonl", trials[3:6])
    with pytest.raises(StoreMergeError) as refused:
        load_results([a, b])
    message = str(refused.value)
    assert trials[3]["trial_id"] in message and str(a) in message and str(b) in message
    for command in (["gate"], ["report", "--out", str(tmp_path / "r")]):
        assert main([*command, str(a), str(b)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"trial {trials[3]['trial_id']} is in both {a}" in err[0], err
    assert not (tmp_path / "r").exists()
    assert main(["gate", str(a), str(a)]) == 2
    assert "is given twice" in capsys.readouterr().err


def test_stores_of_different_runs_are_refused_naming_both_labels(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trials = [x for x in _lines() if x["kind"] == "trial"]
    a = _write(tmp_path / "a.jsonl", trials[:2])
    b = _write(tmp_path / "b.jsonl", [{**t, "run_id": "ci_2_shards-gw1"} for t in trials[2:4]])
    for command in (["gate"], ["report", "--out", str(tmp_path / "r")]):
        assert main([*command, str(a), str(b)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert "different runs" in err[0] and "20261130T123914-3d8593" in err[0], err
        assert "ci_2_shards" in err[0] and "--run-id" in err[0], err


def test_one_store_with_a_repeated_trial_still_warns_and_counts_it_once(tmp_path: Path) -> None:
    trials = [x for x in _lines() if x["kind"] == "trial"]
    one = _write(tmp_path / "one.jsonl", [*trials[:3], trials[0]])
    loaded = load_results([one])
    assert len(loaded.trials) == 3 and len(loaded.warnings) == 1
    assert "counted once" in str(loaded.warnings[0])


@pytest.mark.parametrize(("run_id", "kind", "label"), [
    ("ci_7-main", "trial", "ci_7"), ("ci_7-gw12", "golden", "ci_7"), ("ci_7", "run", "ci_7"),
    ("nightly-main", "run", "nightly-main"), ("nightly-main-gw0", "trial", "nightly-main"),
])
def test_the_run_label_is_the_pytest_run_id(run_id: str, kind: str, label: str) -> None:
    assert run_label(run_id, kind) == label
