"""A short soak: tens of workflows on three workers of the reference runtime while a seeded
nemesis fires overlapping faults of every kind the machine can run, each healed.

Asserted: the same seed plans the same schedule; every planned fault fired and healed without
error; nothing lost, stuck or duplicated (outcomes, effects), no superseded write took effect,
and no other promised property is false on any workflow's slice; the picture and soak.json are
written. The full-size soak is ``durabench soak`` (see docs; CI may run it as its own step).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.env import Environment
from harness.history import History
from harness.require import required
from harness.soak import SoakOptions, check_soak, plan
from harness.soak._cli import supported_policies, unavailable_kinds
from harness.soak._nemesis import slot_of
from harness.soak._report import anomaly_text, write
from harness.soak._run import run_soak
from harness.soak._slices import FaultSpan, fault_spans

pytestmark = pytest.mark.durabench_case_s(60)

SHORT = SoakOptions(sut="reference", workflows=45, faults=10, seed=142, arrival_rate=4.0,
                    quiesce_bound_s=120.0, policies=supported_policies("reference"), compounds=2)
"""Seed 142 draws every kind, and every kind but oom where no memory cgroup can be written;
every recovery the reference runtime supports (restart, standby, rolling); and two compound
patterns (a failover: a kill, then Postgres restarting as the work is recovered; and both links
down at once)."""


def test_short_soak_loses_nothing(durabench_env: Environment, tmp_path: Path) -> None:
    if durabench_env.name != "local":
        pytest.skip(f"the soak runs on the local environment only (this run: {durabench_env.name})")
    unavailable = unavailable_kinds(SHORT.sut)
    if "oom" in unavailable and "oom" in required():
        pytest.fail(f"DURABENCH_REQUIRE has oom, but the soak cannot run it: {unavailable['oom']}")
    options = replace(SHORT, kinds=tuple(k for k in SHORT.kinds if k not in unavailable))
    planned = plan(options)
    assert json.dumps(planned.to_json()) == json.dumps(plan(options).to_json()), "same seed"
    assert {f.kind for f in planned.faults} == set(options.kinds), "the seed mixes every kind"
    assert {f.recovery for f in planned.faults if f.recovery} == set(options.policies)
    assert ({f.compound for f in planned.faults if f.compound} == {"failover", "both_links_down"}
            or "db_crash" not in options.kinds)

    run = run_soak(durabench_env, planned)
    fig = check_soak(run.history, run.promised, run.live_executors)
    report = anomaly_text(planned, fig)
    spans = fault_spans(run.history)
    assert [s.fault_id for s in spans] == [f.fault_id for f in planned.faults]
    assert not fig.fault_errors, fig.fault_errors
    assert fig.workflows == SHORT.workflows
    assert (fig.lost, fig.stuck) == ([], []), report
    _assert_recovered_as_planned(run.history, spans)
    # the failover's Postgres restart is pinned on the recovery's first call (or says it fell back)
    failover = [e for e in run.history.events_of("fault_fired")
                if e.detail.get("compound") == "failover"]  # fmt: skip
    assert all(e.detail.get("anchor") for e in failover), failover
    assert (fig.duplicate_outcomes, fig.duplicate_effects) == ([], []), report
    assert fig.superseded_writes == [], report
    assert not any(fig.false_by_property.values()), report
    # Terminal either way: a step whose retries a partition plus provider errors exhaust may end
    # its workflow ERROR, which is an outcome, not a loss (the soak prints how many failed).
    assert fig.succeeded + fig.failed == SHORT.workflows, report

    path = write(tmp_path, planned, [(run, fig)], {})
    stored = json.loads(path.read_text())
    assert stored["plan"] == json.loads(json.dumps(planned.to_json()))
    assert (tmp_path / stored["suts"]["reference"]["picture"]).stat().st_size > 0


def _assert_recovered_as_planned(history: History, spans: list[FaultSpan]) -> None:
    """Each worker a fault took down was replaced as its recovery said: ``restart`` by its own
    executor id, ``standby`` by a fresh one in its slot; ``rolling``'s replacement (same id) was
    started while the fault was active, before the old process went."""
    started = history.events_of("worker_started")
    exits = {e.pid: e for e in history.events_of("worker_exited")}
    for span in spans:
        fired = span.events[0]
        if not span.recovery or span.not_landed or span.error or span.executor is None:
            continue
        if span.recovery == "rolling":
            assert any(e.executor == span.executor and fired.at_ns <= e.at_ns <= span.healed_ns
                       for e in started), f"fault #{span.fault_id}: no rolling replacement"
            continue
        gone = exits.get(fired.pid)
        if gone is None or gone.detail.get("stopped_by") == "teardown":
            continue  # the worker outlived the fault (an oom that reached no tool)
        after = {e.executor for e in started if e.at_ns >= gone.at_ns and e.executor}
        if span.recovery == "restart":
            ok = span.executor in after
        else:  # standby, supervised: a fresh identity in the same slot
            ok = any(x != span.executor and slot_of(x) == slot_of(span.executor) for x in after)
        assert ok, (f"fault #{span.fault_id} {span.label} on {span.executor}: no such "
                    f"replacement after it exited (started after: {sorted(after)})")
