"""The soak's plan (same seed, same schedule; limits hold), its usage errors, and its checkers on
synthetic histories with one planted anomaly each (so every figure is shown able to fail)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.env.postgres import ENV_URL
from harness.history import EffectRecord, HarnessEvent, History
from harness.soak import SoakOptions, SoakUsageError, check_soak, plan, ttr_summary
from harness.soak._cli import supported_policies, unavailable_kinds
from harness.soak._nemesis import SOAK_OOM, executor_of, slot_of
from harness.soak._picture import verdict_lines
from harness.soak._plan import (
    COMPOUNDS,
    FAULT_KINDS,
    RECOVERY_CHOICES,
    RECOVERY_OF_KIND,
    WORKER_KINDS,
    for_sut,
)
from harness.soak._report import replay_command
from harness.soak._run import soak_spec
from harness.soak._synthetic import synthetic
from harness.sut import get_sut
from harness.workloads import OOM_ARM_ENV

REFERENCE = get_sut("reference")
"""Resolved at collection, before a later test directory on sys.path can shadow
``reference_runtime`` with ``tests/reference_runtime`` (a namespace package)."""

ALL = frozenset({"terminates", "single_outcome", "no_replay", "bounded_waste",
                 "output_consistency", "effects_once", "single_active_execution"})
LIVE = frozenset({"soak-w0", "soak-w1", "soak-w2"})


def test_same_seed_same_schedule_and_another_seed_another() -> None:
    options = SoakOptions(workflows=300, faults=30, seed=7)
    first, again = plan(options), plan(options)
    assert json.dumps(first.to_json()) == json.dumps(again.to_json())
    assert first.describe() == again.describe()
    other = plan(dataclasses.replace(options, seed=8))
    assert other.to_json()["faults"] != first.to_json()["faults"]
    assert len(first.faults) == 30 and len(first.arrivals_s) == 300


@pytest.mark.parametrize("plan_seed", range(5))
def test_schedule_respects_its_limits(plan_seed: int) -> None:
    options = SoakOptions(workflows=200, faults=60, seed=plan_seed, max_concurrent=2)
    faults = plan(options).faults
    for f in faults:
        active = [g for g in faults if g.at_s <= f.at_s < g.end_s]
        assert len(active) <= options.max_concurrent
        same = [g for g in active if g is not f and (
            (f.kind in WORKER_KINDS and g.slot == f.slot) or
            (f.kind not in WORKER_KINDS and g.kind == f.kind))]
        assert not same, (f, same)
    assert {f.kind for f in faults} == set(options.kinds)  # 60 draws reach every kind


@pytest.mark.parametrize(("argv", "needle"), [
    (["--workers", "2", "--max-concurrent", "2"], "could take every worker down"),
    (["--kinds", "kill,meteor", "--max-concurrent", "1"], "unknown fault kind"),
    (["--workflows", "0"], "--workflows >= 1"),
])
def test_contradictory_options_are_usage_errors(argv: list[str], needle: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["soak", "--plan-only", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_a_kind_that_cannot_run_here_is_a_usage_error_when_asked_for(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql://postgres@127.0.0.1:1/x")
    assert main(["soak", "--plan-only", "--kinds", "kill,db_crash", "--max-concurrent", "1"]) == 2
    err = capsys.readouterr().err
    assert "--kinds db_crash" in err and ENV_URL in err and "leave that kind out" in err


def test_a_kind_that_cannot_run_here_is_skipped_with_its_reason_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql://postgres@127.0.0.1:1/x")
    assert main(["soak", "--plan-only", "--faults", "40"]) == 0
    out = capsys.readouterr().out
    assert f"skipped fault kind db_crash: {ENV_URL}" in out
    assert " db_crash " not in out.split("skipped", 1)[0]


def test_plan_only_prints_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["soak", "--plan-only", "--workflows", "50", "--faults", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    kinds = tuple(k for k in FAULT_KINDS if k not in unavailable_kinds("reference"))
    assert plan(SoakOptions(workflows=50, faults=5, seed=3, kinds=kinds,
                            policies=supported_policies("reference"))).describe() in out


def test_each_worker_killing_fault_draws_its_recovery_from_the_allowed_policies() -> None:
    options = SoakOptions(workflows=200, faults=60, seed=4, max_concurrent=2,
                          policies=RECOVERY_CHOICES)
    drawn = plan(options).faults
    for f in drawn:
        if f.kind in RECOVERY_OF_KIND:
            assert f.recovery in RECOVERY_OF_KIND[f.kind], f
        else:
            assert f.recovery is None, f
    assert {f.recovery for f in drawn if f.recovery} == set(RECOVERY_CHOICES)
    assert "recovery=standby" in plan(options).describe()
    # Recovery has its own stream: the seed's schedule is the same whatever may be drawn.
    only_restart = plan(dataclasses.replace(options, policies=("restart",))).faults
    assert [dataclasses.replace(f, recovery=None, handovers=1) for f in only_restart] == \
        [dataclasses.replace(f, recovery=None, handovers=1) for f in drawn]
    assert {f.recovery for f in only_restart if f.recovery} == {"restart"}
    # some supervised recoveries ask two executors at once; nothing else does
    twice = [f for f in drawn if f.handovers > 1]
    assert twice and all(f.recovery == "supervised" and f.handovers == 2 for f in twice)
    assert "recovery=supervised handovers=2" in plan(options).describe()
    assert all(f.handovers == 1 for f in only_restart)


def test_another_sut_gets_the_same_schedule_with_recoveries_it_supports() -> None:
    base = plan(SoakOptions(workflows=100, faults=40, seed=5, policies=RECOVERY_CHOICES))
    dbos = for_sut(base, SoakOptions(sut="dbos", workflows=100, faults=40, seed=5,
                                     policies=supported_policies("dbos")))
    assert [f.at_s for f in dbos.faults] == [f.at_s for f in base.faults]
    assert "standby" not in {f.recovery for f in dbos.faults}
    assert "supervised" in {f.recovery for f in dbos.faults}


@pytest.mark.parametrize(("argv", "needle"), [
    (["--sut", "dbos", "--policies", "standby"], "dbos does not support standby"),
    (["--policies", "reboot"], "choose from restart,standby,supervised,rolling"),
])
def test_a_recovery_policy_the_sut_lacks_is_a_usage_error(
        argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["soak", "--plan-only", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_compounds_pin_a_partner_to_a_leader_of_their_pattern() -> None:
    options = SoakOptions(workflows=300, faults=60, seed=11, compounds=12, max_concurrent=2,
                          policies=RECOVERY_CHOICES)
    faults = plan(options).faults
    partners = [f for f in faults if f.compound]
    assert len(faults) == 60 + len(partners) and 0 < len(partners) <= 12
    assert {f.compound for f in partners} == set(COMPOUNDS)  # 12 draws reach every pattern
    assert [f.fault_id for f in faults] == list(range(len(faults)))
    assert [f.at_s for f in faults] == sorted(f.at_s for f in faults)
    for p in partners:
        pattern, leader = COMPOUNDS[p.compound], faults[p.joins or 0]
        assert (leader.kind, p.kind) == (pattern.leader, pattern.partner), p
        assert p.at_s == pytest.approx(leader.at_s + pattern.offset_s, abs=1e-3)
        assert (p.slot == leader.slot) if pattern.same_slot else p.slot is None
        if p.kind == "partition":
            assert p.params["link"] != leader.params["link"]
        others = [f for f in faults if f is not p and f is not leader
                  and f.at_s < p.end_s and p.at_s < f.end_s]
        assert not [f for f in others if (p.slot is not None and f.slot == p.slot) or (
            p.slot is None and f.kind == p.kind
            and f.params.get("link") == p.params.get("link"))], p
    assert "[failover after #" in plan(options).describe()
    without = plan(dataclasses.replace(options, compounds=0)).faults
    assert [(f.kind, f.at_s) for f in faults if not f.compound] == \
        [(f.kind, f.at_s) for f in without]  # the drawn schedule is kept


def test_a_slot_keeps_its_faults_across_fresh_executor_ids() -> None:
    assert executor_of(2) == "soak-w2" and slot_of("soak-w2") == 2
    assert slot_of(executor_of(1, 3)) == 1 and executor_of(1, 3) != executor_of(1)
    assert slot_of("w1-abc123") is None


def test_oom_reaches_only_the_targeted_worker(tmp_path: Path) -> None:
    setup = SOAK_OOM.worker_setup(tmp_path)
    arms = {e: setup.env_for(e)[OOM_ARM_ENV] for e in ("w0", "w1")}
    assert arms["w0"] != arms["w1"] and all(a.startswith(str(tmp_path)) for a in arms.values())
    assert setup.memory_limit_mb == SOAK_OOM.limit_mb
    assert OOM_ARM_ENV not in setup.env  # never one switch for every worker


def test_clean_synthetic_history_is_valid() -> None:
    fig = check_soak(synthetic(60, 6), ALL, LIVE)
    assert fig.clean, fig.anomalies
    assert fig.workflows == fig.succeeded == 60
    assert fig.redundant_tokens == 0
    assert ttr_summary(fig.recoveries)["all"]["n"] == 6


def _drop_outcome(history: History, wid: str, owner_alive: bool) -> History:
    records = tuple(dataclasses.replace(w, status="PENDING",
                                        executor="soak-w0" if owner_alive else "gone")
                    if w.workflow_id == wid else w for w in history.workflows)
    return dataclasses.replace(history, workflows=records,
                               outcomes=tuple(o for o in history.outcomes if o.workflow_id != wid))


@pytest.mark.parametrize("owner_alive", [True, False])
def test_a_workflow_never_terminal_is_lost_and_stuck_without_a_live_owner(
        owner_alive: bool) -> None:
    fig = check_soak(_drop_outcome(synthetic(30, 3), "wf-00007", owner_alive), ALL, LIVE)
    assert fig.lost == ["wf-00007"]
    assert fig.stuck == ([] if owner_alive else ["wf-00007"])
    lost = [a for a in fig.anomalies if a.property == "terminates"]
    assert [a.workflow_id for a in lost] == ["wf-00007"]
    assert any("wf=wf-00007" in line for line in lost[0].evidence), "the history slice"
    assert not fig.clean


def test_an_effect_applied_twice_is_a_duplicate_effect() -> None:
    history = synthetic(30, 3)
    first = next(e for e in history.effects if e.workflow_id == "wf-00004")
    again = dataclasses.replace(first, key=first.key + "-again", received_ns=first.received_ns + 5)
    fig = check_soak(dataclasses.replace(history, effects=(*history.effects, again)), ALL, LIVE)
    assert fig.duplicate_effects == ["wf-00004"]
    anomaly = fig.anomalies[0]
    assert anomaly.workflow_id == "wf-00004" and anomaly.evidence


def test_two_outcomes_of_one_workflow_are_a_duplicate_outcome() -> None:
    history = synthetic(30, 3)
    seen = next(o for o in history.outcomes if o.workflow_id == "wf-00002")
    other = dataclasses.replace(seen, observer="second", output={"report": "another"})
    fig = check_soak(dataclasses.replace(history, outcomes=(*history.outcomes, other)), ALL, LIVE)
    assert fig.duplicate_outcomes == ["wf-00002"]


def test_a_superseded_execution_whose_effect_took_effect_is_reported() -> None:
    history = synthetic(30, 3)
    wid = "wf-00010"
    start = min(e.received_ns for e in history.ledger if e.workflow_id == wid)
    kill = {"fault": "kill", "fault_id": 99}
    late = EffectRecord(f"{wid}:late", "late_note", wid, "soak-w1", 1, start + 10**9, True)
    ledger = tuple(dataclasses.replace(e, attempt=2, executor="soak-w2")
                   if e.workflow_id == wid and e.step == 5 else e for e in history.ledger)
    steps = tuple(dataclasses.replace(s, epoch=2, executor="soak-w2")
                  if s.workflow_id == wid and s.step in (5, 6) else s for s in history.steps)
    events = (*history.events,
              HarnessEvent(start + 1, "fault_fired", executor="soak-w1", detail=kill),
              HarnessEvent(start + 2, "fault_healed", detail=kill))
    records = tuple(dataclasses.replace(w, epoch=2) if w.workflow_id == wid else w
                    for w in history.workflows)
    bad = dataclasses.replace(history, ledger=ledger, steps=steps, workflows=records,
                              effects=(*history.effects, late),
                              events=tuple(sorted(events, key=lambda e: e.at_ns)))
    fig = check_soak(bad, ALL, LIVE)
    assert wid in fig.superseded_writes, fig.anomalies


def test_one_worker_cannot_take_worker_faults() -> None:
    with pytest.raises(SoakUsageError, match="every worker down"):
        plan(SoakOptions(workers=1, max_concurrent=1))
    assert plan(SoakOptions(workers=1, max_concurrent=1, kinds=("db_crash", "degrade"),
                            faults=4, workflows=5)).faults


def test_every_planned_kind_builds_its_fault_with_the_planned_parameters() -> None:
    from harness.soak._nemesis import build_fault

    faults = plan(SoakOptions(workflows=100, faults=80, seed=5)).faults
    for planned in faults:
        fault = build_fault(planned)
        assert fault.name == planned.kind
        for key, value in planned.params.items():
            if hasattr(fault, key):
                assert getattr(fault, key) == value, (planned, key)


def test_a_queue_limit_the_soak_set_is_checked() -> None:
    history = synthetic(60, 6)
    assert check_soak(history, ALL, LIVE, queue_limits=(60, 60)).clean, "generous limits hold"
    fig = check_soak(history, ALL, LIVE, queue_limits=(0, 1))
    assert not fig.clean and fig.queue_overruns
    assert {a.property for a in fig.anomalies} == {"queue_limit"}
    assert "queue limit overruns" in "\n".join(verdict_lines(fig))


@pytest.mark.parametrize(("argv", "needle"), [
    (["--sut", "temporal", "--worker-concurrency", "1"], "temporal has no such queue limit"),
    (["--sut", "reference", "--queue-concurrency", "1"], "reference has no such queue limit"),
    (["--worker-concurrency", "-1"], "must be >= 0"),
])
def test_a_queue_limit_the_sut_lacks_is_a_usage_error(
        argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["soak", "--plan-only", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_a_queue_limit_reaches_the_workers_and_the_replay_command() -> None:
    options = SoakOptions(sut="dbos", workflows=10, faults=1, seed=3, policies=("restart",),
                          worker_concurrency=2, queue_concurrency=4)  # fmt: skip
    spec = soak_spec(plan(options))
    assert (spec.options.worker_concurrency, spec.options.queue_concurrency) == (2, 4)
    assert replay_command(plan(options)).endswith(
        "--worker-concurrency 2 --queue-concurrency 4")

