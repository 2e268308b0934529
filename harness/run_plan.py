"""Run lines in the results store: how many scenario tests a run planned, and how many finished.

A run writes two lines of ``kind: "run"`` beside its trial lines (schema 1, additive: readers of
trial lines skip them):

- at collection: ``{"kind": "run", "run_id": ID, "planned": N, "started_at": ...}``;
- at the end of the session (also after Ctrl-C / SIGTERM, never after SIGKILL):
  ``{"kind": "run", "run_id": ID, "planned": N, "finished": K, "exit_status": S, "outcomes":
  {"passed": .., "failed": .., "skipped": .., "xfailed": .., "xpassed": ..}, "skip_reasons":
  {reason: count}, "xfails": [{"test": node id, "reason": .., "trials": [trial id, ..]}],
  "environment": {"cores": .., "load_1m": {"min": .., "mean": .., "max": .., "samples": ..}}}``
  (outcomes of the scenario tests; an xfail is an expected failure: a SUT's known finding seen in
  this run; the load average is sampled at each finished scenario test).

Trial lines of the run carry ``run_id`` = ``ID`` or ``ID-<pytest-xdist worker>``. A run is
*complete* when its last run line says ``finished >= planned``; :func:`incomplete_runs` lists the
others, and the gate fails on them unless told ``--allow-partial``.

:class:`RunRecorder` is the pytest plugin object that writes the lines (registered by the
durabench plugin in the xdist controller or a plain run).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import pytest

from harness.results import append_result

RUN_KIND = "run"
RUN_SCHEMA = 1


OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed")


@dataclass(frozen=True)
class ExpectedFailure:
    """A scenario test that failed as expected: a SUT's known finding, seen in this run."""

    test: str
    reason: str
    trials: tuple[str, ...]


@dataclass(frozen=True)
class RunSummary:
    """What a run's last line says about its scenario tests and its machine (empty when the
    line predates these fields: the report then says "not recorded")."""

    run_id: str
    outcomes: dict[str, int]
    skip_reasons: dict[str, int]
    xfails: tuple[ExpectedFailure, ...]
    cores: int | None
    load_1m: dict[str, float]


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    planned: int
    finished: int | None  # None: the run never reached its end (killed, or still running)

    @property
    def complete(self) -> bool:
        return self.finished is not None and self.finished >= self.planned

    def describe(self) -> str:
        done = "no end recorded (killed?)" if self.finished is None else f"{self.finished}"
        return f"run {self.run_id}: finished {done} of {self.planned} planned scenario tests"


def _records(path: Path) -> Iterable[dict[str, Any]]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return
    for raw in lines:
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # unreadable lines are the store loader's to report
        if isinstance(record, dict) and record.get("kind") == RUN_KIND:
            yield record


def read_run_plans(paths: Sequence[str | Path]) -> dict[str, RunPlan]:
    """The last run line of each run id in ``paths`` (malformed run lines are skipped)."""
    plans: dict[str, RunPlan] = {}
    for path in paths:
        for record in _records(Path(path)):
            run_id, planned, finished = (record.get(k) for k in ("run_id", "planned", "finished"))
            if isinstance(run_id, str) and _count(planned):
                plans[run_id] = RunPlan(run_id, planned, finished if _count(finished) else None)
    return plans


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _summary(record: dict[str, Any]) -> RunSummary:
    outcomes = _mapping(record.get("outcomes"))
    reasons = _mapping(record.get("skip_reasons"))
    env = _mapping(record.get("environment"))
    load = _mapping(env.get("load_1m"))
    xfails = tuple(
        ExpectedFailure(str(x.get("test", "")), str(x.get("reason", "")),
                        tuple(str(t) for t in x.get("trials") or ()))
        for x in record.get("xfails") or () if isinstance(x, dict))
    return RunSummary(
        run_id=str(record["run_id"]),
        outcomes={k: v for k, v in outcomes.items() if k in OUTCOMES and _count(v)},
        skip_reasons={str(k): v for k, v in reasons.items() if _count(v)},
        xfails=xfails,
        cores=env.get("cores") if _count(env.get("cores")) else None,
        load_1m={k: float(v) for k, v in load.items()
                 if isinstance(v, int | float) and not isinstance(v, bool)})


def read_run_summaries(paths: Sequence[str | Path]) -> tuple[RunSummary, ...]:
    """The summary of each run in ``paths`` that recorded its end, in the order of the runs."""
    ends: dict[str, dict[str, Any]] = {}
    for path in paths:
        for record in _records(Path(path)):
            if isinstance(record.get("run_id"), str) and "finished" in record:
                ends[record["run_id"]] = record
    return tuple(_summary(r) for r in ends.values())


def incomplete_runs(paths: Sequence[str | Path]) -> list[RunPlan]:
    return [plan for plan in read_run_plans(paths).values() if not plan.complete]


def _is_scenario(nodeid: str) -> bool:
    return nodeid.startswith("scenarios/") or "/scenarios/" in nodeid


class RunRecorder:
    """Writes the run lines of one pytest session (see the module docstring)."""

    def __init__(self, run_id: str, results: Path) -> None:
        self.run_id = run_id
        self.results = results
        self.planned: int | None = None
        self.finished = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.skip_reasons: dict[str, int] = {}
        self.xfails: list[dict[str, Any]] = []
        self.load: list[float] = []

    def _plan(self, count: int) -> None:
        if self.planned is None and count > 0:
            self.planned = count
            append_result(self.results, {
                "schema": RUN_SCHEMA, "kind": RUN_KIND, "run_id": self.run_id, "planned": count,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            })

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._plan(sum(_is_scenario(item.nodeid) for item in session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self._plan(sum(_is_scenario(i) for i in ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        finished = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
        if finished and _is_scenario(report.nodeid):
            self.finished += 1
            self._count_outcome(report)
            self.load.append(os.getloadavg()[0])

    def _count_outcome(self, report: pytest.TestReport) -> None:
        xfail = getattr(report, "wasxfail", None)
        if xfail is not None:
            outcome = "xpassed" if report.passed else "xfailed"
            trials: Any = dict(report.user_properties).get("durabench_trials") or []
            self.xfails.append({"test": report.nodeid, "reason": str(xfail or ""),
                                "trials": [str(t) for t in trials]})
        elif report.skipped:
            outcome = "skipped"
            reason = _skip_reason(report)
            self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        else:
            outcome = "passed" if report.passed else "failed"
        self.outcomes[outcome] += 1

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.planned is not None:
            load = ({"min": min(self.load), "mean": sum(self.load) / len(self.load),
                     "max": max(self.load), "samples": len(self.load)} if self.load else {})
            append_result(self.results, {
                "schema": RUN_SCHEMA, "kind": RUN_KIND, "run_id": self.run_id,
                "planned": self.planned, "finished": self.finished, "exit_status": int(exitstatus),
                "outcomes": self.outcomes, "skip_reasons": self.skip_reasons,
                "xfails": self.xfails,
                "environment": {"cores": os.cpu_count(), "load_1m": load},
            })


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason a skip gave (``pytest.skip(reason)``), without pytest's ``Skipped: `` prefix."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ").strip() or "no reason given"
