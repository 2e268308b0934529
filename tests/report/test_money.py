"""The money section of the report: waste per crash against % of the loop done, the time table
(measured | real-time equivalent) and the monthly projection, from crash-sweep results lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report import Projection, load_results
from harness.report._money import DAYS_PER_MONTH, money_chart, projection_table, time_table
from harness.workloads import DeepResearchParams

SCALE = 100.0
GOLDEN_S = 36.0  # 60 minutes at x100, but the loop stands for NOMINAL_S (overhead absorbed)
NOMINAL_S = DeepResearchParams(time_scale=SCALE).real_time_estimate_s()


def _line(sut: str, fraction: float, waste_usd: float, redone_s: float) -> dict[str, Any]:
    return {
        "schema": 1, "kind": "trial", "trial_id": f"crash_sweep-{sut}-{fraction}",
        "scenario": "crash_sweep", "sut": sut, "checkpointing": not sut.endswith("-nockpt"),
        "workload": "deep_research", "fault": "kill", "trigger": f"at{fraction}",
        "workload_params": {"time_scale": SCALE, "model": "mock-gpt-6.2-sol"},
        "crash_fraction": fraction, "redundant_cost_usd": waste_usd, "cost_usd": 2.0 + waste_usd,
        "redundant_tokens": int(waste_usd * 1e6), "golden_duration_s": GOLDEN_S,
        "time_to_resume_s": 1.0, "time_to_recover_s": 1.0 + redone_s,
        "completion_delay_s": 1.0 + redone_s, "verdicts": {}, "valid": "true", "env": "local",
        "run_id": "20261130T000000-sweep", "seed": 0,
    }


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    lines = [_line("reference", f, 0.05, 0.0) for f in (0.1, 0.5, 0.9)]
    lines += [_line("reference-nockpt", f, 2 * f, 30 * f) for f in (0.1, 0.5, 0.9)]
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_projection_follows_its_formula(sweep: Path) -> None:
    trials = load_results([sweep]).trials
    table = projection_table(trials, Projection(failures_per_hour=0.5, runs_per_day=10))
    assert table is not None
    rows = {row[0]: row for row in table.rows}
    crashes = 0.5 * (NOMINAL_S / 3600) * 10 * DAYS_PER_MONTH  # F x T x N x days
    off = rows["reference-nockpt"]
    assert off[3] == f"{NOMINAL_S / 60:,.1f} min"
    assert off[4] == f"{crashes:,.1f}"
    assert off[6] == f"${crashes * (2 * 0.5):,.2f}"  # mean waste over 10/50/90% = $1.00
    effective = NOMINAL_S / GOLDEN_S  # mean redone 15 s measured, calibrated on the golden run
    assert off[7] == f"{crashes * 15 * effective / 3600:,.1f} h"
    assert rows["reference"][7] == "0.0 h" and rows["reference"][6] == f"${crashes * 0.05:,.2f}"
    assert "crashes/month = F x T x N" in table.note


def test_time_table_shows_measured_and_real_time(sweep: Path) -> None:
    table = time_table(load_results([sweep]).trials)
    assert table is not None
    row = {r[0]: r for r in table.rows}["reference-nockpt"]
    effective = NOMINAL_S / GOLDEN_S
    assert row[1] == f"x100 / x{effective:.0f}"
    assert row[3] == f"36.00 s | 60.0 min | {NOMINAL_S / 60:.1f} min"


def test_chart_only_when_there_is_a_sweep(sweep: Path, tmp_path: Path) -> None:
    trials = load_results([sweep]).trials
    chart = money_chart(trials, tmp_path)
    assert chart is not None and (tmp_path / chart.filename).stat().st_size > 0
    assert money_chart(trials.assign(crash_fraction=None), tmp_path) is None


def test_report_cli_takes_the_projection_options(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(sweep), "--out", str(out), "--failures-per-hour", "0.25",
                 "--runs-per-day", "40"]) == 0
    summary = (out / "summary.md").read_text()
    assert "Per month at 0.25 failures per hour of running and 40 runs per day" in summary
    assert (out / "waste_per_crash_usd.png").exists()
    assert main(["report", str(sweep), "--out", str(out), "--runs-per-day", "-1"]) == 2


def test_every_runtime_has_its_own_colour_and_marker_and_twins_never_share_one() -> None:
    from harness.report._styles import runtime_styles

    modes = {"reference": True, "dbos": True, "temporal": True, "langgraph": True,
             "reference-nockpt": False, "langgraph-nockpt": False, "plain": False}
    styles = runtime_styles(modes, modes)
    order = list(styles)
    assert order[0] == "reference" and order[-1] == "plain"
    assert len({s.colour for s in styles.values()}) == len(modes)
    assert len({s.marker for s in styles.values()}) == len(modes)
    assert styles["reference"].colour != styles["reference-nockpt"].colour
    assert {s: st.linestyle for s, st in styles.items()} == {
        s: "-" if on else "--" for s, on in modes.items()}


def test_the_third_mode_has_its_own_line_and_row(sweep: Path, tmp_path: Path) -> None:
    """reference-resume (checkpointing + resumable calls) beside reference and its twin."""
    lines = [_line("reference-resume", f, 0.0, 0.0) for f in (0.1, 0.5, 0.9)]
    with sweep.open("a") as out:
        out.write("".join(json.dumps(line) + "\n" for line in lines))
    trials = load_results([sweep]).trials
    table = projection_table(trials, Projection())
    assert table is not None
    rows = {row[0]: row for row in table.rows}
    assert [rows[s][1] for s in ("reference-nockpt", "reference", "reference-resume")] == [
        "off", "on", "on + resumable calls"]
    assert rows["reference-resume"][6] == "$0.00"
    assert money_chart(trials, tmp_path) is not None
