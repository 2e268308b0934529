"""Run lines in the results store: how many scenario tests a run planned, and how many finished.

A run writes two lines of ``kind: "run"`` beside its trial lines (schema 1, additive: readers of
trial lines skip them):

- at collection: ``{"kind": "run", "run_id": ID, "planned": N, "started_at": ...}``;
- at the end of the session (also after Ctrl-C / SIGTERM, never after SIGKILL):
  ``{"kind": "run", "run_id": ID, "planned": N, "finished": K, "exit_status": S}``.

Trial lines of the run carry ``run_id`` = ``ID`` or ``ID-<pytest-xdist worker>``. A run is
*complete* when its last run line says ``finished >= planned``; :func:`incomplete_runs` lists the
others, and the gate fails on them unless told ``--allow-partial``.

:class:`RunRecorder` is the pytest plugin object that writes the lines (registered by the
durabench plugin in the xdist controller or a plain run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import pytest

from harness.results import append_result

RUN_KIND = "run"
RUN_SCHEMA = 1


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
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.finished += _is_scenario(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.planned is not None:
            append_result(self.results, {
                "schema": RUN_SCHEMA, "kind": RUN_KIND, "run_id": self.run_id,
                "planned": self.planned, "finished": self.finished, "exit_status": int(exitstatus),
            })
