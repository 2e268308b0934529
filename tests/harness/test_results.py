"""The results line: one type written and read by the same code, and figures that can be
recomputed from the stored history. Checked on the lines of a real run (kill, db_crash, partition
and pause on the local environment, committed as tests/report/fixtures/real_run.jsonl) and on the
schema-1 store of an earlier real CI run (tests/report/fixtures/schema1_run.jsonl, once the
example report's store)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import judge
from harness.figures import compute_figures
from harness.history import PROPERTIES
from harness.results import (
    RESULT_SCHEMA,
    UPGRADES,
    ResultRecord,
    ResultRecordError,
    load_records,
)

ROOT = Path(__file__).resolve().parents[2]
REAL_RUN = ROOT / "tests" / "report" / "fixtures" / "real_run.jsonl"
EXAMPLE = ROOT / "tests" / "report" / "fixtures" / "schema1_run.jsonl"


def _upgraded(line: dict[str, Any]) -> dict[str, Any]:
    while line["schema"] in UPGRADES:
        line = UPGRADES[line["schema"]](line)
    return line


def test_every_real_line_is_exactly_what_its_record_writes() -> None:
    """Each line, brought to the current schema by the upgrade functions (the fixture is a
    schema-2 run; schema 3 added ``shard`` and ``sut_version``), is what its record writes back."""
    lines = [json.loads(line) for line in REAL_RUN.read_text().splitlines()]
    records = load_records(REAL_RUN)
    assert len(records) == len(lines) > 0
    assert {line["schema"] for line in lines} == {2}
    for line, record in zip(lines, records, strict=True):
        assert _upgraded(line) == record.to_json()
        assert record.shard is None
        assert ResultRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize("record", load_records(REAL_RUN), ids=lambda r: r.trial_id)
def test_stored_figures_and_verdicts_equal_those_recomputed_from_the_history(
    record: ResultRecord,
) -> None:
    history = record.parsed_history()
    assert history is not None
    figures = dataclasses.asdict(compute_figures(history))
    stored = {f.name for f in dataclasses.fields(ResultRecord)} & set(figures)
    assert len(stored) >= 13  # every figure but ``calls`` is on the line
    for name in stored:
        value = figures[name]
        # dollar sums of a line written before costs were summed exactly (math.fsum) differ
        # from an exact sum in the last bits only
        expected = pytest.approx(value, rel=1e-12, abs=1e-15) if isinstance(value, float) else (
            value)
        assert getattr(record, name) == expected, name
    promised = frozenset(p for p in PROPERTIES if p in record.promised)
    judgement = judge(history, promised)
    assert judgement.as_json() == record.verdicts
    assert judgement.valid == record.valid


def test_a_real_line_names_its_postgres_twin_and_tools() -> None:
    records = load_records(REAL_RUN)
    assert {r.versions["postgres"] for r in records} == {"16.2"}
    by_sut = {r.sut: r.twin for r in records}
    assert by_sut == {"reference": "reference-nockpt", "reference-nockpt": None}
    assert all(r.tool_executions > 0 for r in records)
    assert all(r.schema == RESULT_SCHEMA for r in records)


def test_schema_1_lines_are_upgraded_when_read() -> None:
    records = load_records(EXAMPLE)
    trials = [r for r in records if r.kind == "trial"]
    assert trials and all(r.schema == RESULT_SCHEMA for r in records)
    assert {r.twin for r in trials if r.sut == "reference"} == {"reference-nockpt"}
    assert {r.tool_executions for r in trials} == {0}
    assert all(r.redundant_tool_calls is None for r in trials)


def test_a_line_missing_fields_says_which(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"schema": RESULT_SCHEMA, "kind": "trial", "sut": "x"}) + "\n")
    with pytest.raises(ResultRecordError, match=r"bad.jsonl:1: .*needs run_id, trial_id"):
        load_records(path)
