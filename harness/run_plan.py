"""Run lines in the results store: how many scenario tests a run planned, and how many finished.

A run writes two lines of ``kind: "run"`` beside its trial lines (schema 1, additive: readers of
trial lines skip them):

- at collection: ``{"kind": "run", "run_id": ID, "planned": N, "started_at": ...}``;
- at the end of the session (also after Ctrl-C / SIGTERM, never after SIGKILL):
  ``{"kind": "run", "run_id": ID, "planned": N, "finished": K, "exit_status": S, "outcomes":
  {"passed": .., "failed": .., "skipped": .., "xfailed": .., "xpassed": ..}, "skip_reasons":
  {reason: count}, "xfails": [{"test": node id, "reason": .., "trials": [trial id, ..]}],
  "environment": {"cores": .., "load_1m": {"min": .., "mean": .., "max": .., "samples": ..}},
  "wall_s": .., "tests_per_minute": ..}``
  (outcomes of the scenario tests; an xfail is an expected failure: a SUT's known finding seen in
  this run; the load average is sampled at each finished scenario test; ``wall_s`` is the
  session's wall time and ``tests_per_minute`` the finished scenario tests per minute of it, so
  one run's speed compares with the next).

A run started with ``pytest --shard K/N`` adds ``"shard": "K/N"`` to both lines (still schema 1:
the field is additive; readers that predate it see one run whose later shard's lines replace the
earlier's). Each shard plans and finishes its own part, so a sharded run is one plan per shard.

Trial (and golden) lines of the run carry ``run_id`` = ``ID-main``, or ``ID-<pytest-xdist
worker>`` (``ID-gw0``, ...): the label of the environment that ran them; ``ID`` is the run's
*label* (:func:`run_label`). A run is *complete* when the last run line of each of its
shards says ``finished >= planned`` and, for a sharded run, every shard 1..N of it is in the
stores read; :func:`incomplete_runs` lists the others, and the gate fails on them unless told
``--allow-partial``.

:class:`RunRecorder` is the pytest plugin object that writes the lines (registered by the
durabench plugin in the xdist controller or a plain run).
"""

from __future__ import annotations

import json
import os
import re
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
    wall_s: float | None = None
    """The session's wall time (None: the line predates it)."""


_ENV_SUFFIX = re.compile(r"-(?:gw\d+|main)$")


def run_label(run_id: str, kind: str) -> str:
    """The run a line of ``kind`` belongs to: a run line's ``run_id``; a trial's or a golden
    run's without the suffix its environment added (``-main``, or ``-gw<N>`` under xdist)."""
    return run_id if kind == RUN_KIND else _ENV_SUFFIX.sub("", run_id)


@dataclass(frozen=True)
class RunPlan:
    """What one run (one shard of it, when sharded) planned and finished. ``missing``: a shard of
    a sharded run whose store was not among those read (``planned`` is then unknown, 0)."""

    run_id: str
    planned: int
    finished: int | None  # None: the run never reached its end (killed, or still running)
    shard: str | None = None
    missing: bool = False

    @property
    def complete(self) -> bool:
        return not self.missing and self.finished is not None and self.finished >= self.planned

    @property
    def name(self) -> str:
        """``run ID`` or ``run ID shard K/N``."""
        return f"run {self.run_id}" + (f" shard {self.shard}" if self.shard else "")

    def describe(self) -> str:
        if self.missing:
            return f"{self.name}: its results store was not given"
        done = "no end recorded (killed?)" if self.finished is None else f"{self.finished}"
        return f"{self.name}: finished {done} of {self.planned} planned scenario tests"


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


PlanKey = tuple[str, str | None]
"""(run id, shard): one plan per shard of a sharded run."""


_SHARD_TEXT = re.compile(r"^\d+/\d+$")


def _shard(record: dict[str, Any]) -> str | None:
    """A run line's ``shard`` (``"K/N"``), or None (unsharded, or not of that shape)."""
    shard = record.get("shard")
    return shard if isinstance(shard, str) and _SHARD_TEXT.match(shard) else None


def read_run_plans(paths: Sequence[str | Path]) -> dict[PlanKey, RunPlan]:
    """The last run line of each (run id, shard) in ``paths`` (malformed run lines are skipped)."""
    plans: dict[PlanKey, RunPlan] = {}
    for path in paths:
        for record in _records(Path(path)):
            run_id, planned, finished = (record.get(k) for k in ("run_id", "planned", "finished"))
            if isinstance(run_id, str) and _count(planned):
                shard = _shard(record)
                plans[(run_id, shard)] = RunPlan(
                    run_id, planned, finished if _count(finished) else None, shard)
    return plans


def missing_shards(plans: Iterable[RunPlan]) -> list[RunPlan]:
    """A ``missing`` plan for each shard K of N of a sharded run that no plan covers."""
    seen: dict[tuple[str, int], set[int]] = {}
    for plan in plans:
        if plan.shard is not None:
            index, total = (int(x) for x in plan.shard.split("/"))
            seen.setdefault((plan.run_id, total), set()).add(index)
    return [RunPlan(run_id, 0, None, f"{k}/{total}", missing=True)
            for (run_id, total), found in sorted(seen.items())
            for k in range(1, total + 1) if k not in found]


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
                 if isinstance(v, int | float) and not isinstance(v, bool)},
        wall_s=float(wall) if isinstance(wall := record.get("wall_s"), int | float)
        and not isinstance(wall, bool) and wall >= 0 else None)


def read_run_summaries(paths: Sequence[str | Path]) -> tuple[RunSummary, ...]:
    """The summary of each run in ``paths`` that recorded its end, in the order of the runs."""
    ends: dict[PlanKey, dict[str, Any]] = {}
    for path in paths:
        for record in _records(Path(path)):
            if isinstance(record.get("run_id"), str) and "finished" in record:
                ends[(record["run_id"], _shard(record))] = record
    return tuple(_summary(r) for r in ends.values())


def incomplete_runs(paths: Sequence[str | Path]) -> list[RunPlan]:
    """Plans not finished, and the shards of sharded runs whose stores are not in ``paths``."""
    plans = list(read_run_plans(paths).values())
    return [plan for plan in plans if not plan.complete] + missing_shards(plans)


def _is_scenario(nodeid: str) -> bool:
    return nodeid.startswith("scenarios/") or "/scenarios/" in nodeid


class RunRecorder:
    """Writes the run lines of one pytest session (see the module docstring)."""

    def __init__(self, run_id: str, results: Path, shard: str | None = None) -> None:
        self.run_id = run_id
        self.results = results
        self.shard = {} if shard is None else {"shard": shard}
        self.planned: int | None = None
        self.finished = 0
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.skip_reasons: dict[str, int] = {}
        self.xfails: list[dict[str, Any]] = []
        self.load: list[float] = []
        self.started = time.monotonic()

    def _plan(self, count: int) -> None:
        if self.planned is None and count > 0:
            self.planned = count
            append_result(self.results, {
                "schema": RUN_SCHEMA, "kind": RUN_KIND, "run_id": self.run_id, "planned": count,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **self.shard,
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
            wall = time.monotonic() - self.started
            append_result(self.results, {
                "schema": RUN_SCHEMA, "kind": RUN_KIND, "run_id": self.run_id,
                "planned": self.planned, "finished": self.finished, "exit_status": int(exitstatus),
                "outcomes": self.outcomes, "skip_reasons": self.skip_reasons,
                "xfails": self.xfails,
                "environment": {"cores": os.cpu_count(), "load_1m": load},
                "wall_s": round(wall, 1),
                "tests_per_minute": round(self.finished / (wall / 60), 2) if wall > 0 else None,
                **self.shard,
            })


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason a skip gave (``pytest.skip(reason)``), without pytest's ``Skipped: `` prefix."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ").strip() or "no reason given"
