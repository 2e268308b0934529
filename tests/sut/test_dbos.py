"""The ``dbos`` SUT end to end: real Postgres, real provider and worker processes, real SIGKILL.

Skipped (with what to install) when DBOS is not installed; ``DURABENCH_REQUIRE=dbos`` is for the
scenario suite (the trial skips there), here the skip names the extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from harness.env.local import LocalEnvironment
from harness.faults import KillFault, PauseFault
from harness.runner import golden_baseline, run_trial
from harness.sut import HandOverFailed, get_sut
from harness.sut import dbos as dbos_sut
from harness.sut.dbos import DBOS_SUT, DbosClient, sqlalchemy_url, status_of
from harness.trial import Recovery, TrialResult, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)

needs_dbos = pytest.mark.skipif(DBOS_SUT.available() is not None,
                                reason=str(DBOS_SUT.available()))  # fmt: skip


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="dbos-sut-test") as env:
        yield env


def spec(**kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(
        scenario="test", sut="dbos", params_json=canonical_params(PARAMS.to_json()), timeout_s=60.0
    )
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def killed_at_call(env: LocalEnvironment, call: int, recovery: Recovery) -> TrialResult:
    golden = golden_baseline(run_trial(env, spec().golden()))
    trial = spec(trigger=Trigger("received", call=call), trigger_name=f"held{call}",
                 fault=KillFault(), recovery=recovery)  # fmt: skip
    return run_trial(env, trial, golden)


@needs_dbos
def test_a_workflow_runs_and_every_step_names_its_executor_and_epoch(
    env: LocalEnvironment,
) -> None:
    result = run_trial(env, spec().golden())
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 1
    llm = [s for s in history.steps if s.kind == "llm"]
    assert [s.step for s in llm] == list(range(PARAMS.llm_calls))
    assert {(s.executor, s.epoch) for s in history.steps} == {(root.executor, 1)}
    assert [s.nonce for s in llm] == [e.nonce for e in history.trial_ledger()]
    assert root.output["llm_nonces"] == {str(s.step): s.nonce for s in llm}
    assert [s.kind for s in history.steps].count("effect") == 1


@needs_dbos
def test_a_killed_worker_is_recovered_by_its_replacement_with_the_same_executor_id(
    env: LocalEnvironment,
) -> None:
    result = killed_at_call(env, 2, Recovery("restart"))
    assert result.valid == "true", result.judgement.summary()
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 2
    fault_at = history.fault_at_ns
    assert fault_at is not None
    before = [s for s in history.steps if s.recorded_ns <= fault_at]
    after = [s for s in history.steps if s.recorded_ns > fault_at]
    assert before and after
    assert {s.epoch for s in before} == {1} and {s.epoch for s in after} == {2}
    assert {s.executor for s in history.steps} == {root.executor}, "same executor id"
    assert {e.attempt for e in history.trial_ledger()} == {1, 2}
    exits = history.events_of("worker_exited")
    assert any(e.exit_code == -9 for e in exits), exits


@needs_dbos
def test_supervised_recovery_hands_a_dead_executors_workflow_to_the_live_one(
    env: LocalEnvironment,
) -> None:
    result = killed_at_call(env, 2, Recovery("supervised", detection_delay_s=0.5))
    assert result.valid == "true", result.judgement.summary()
    history = result.history
    handed = history.events_of("supervisor_recovered")
    assert len(handed) == 1 and handed[0].detail["workflows"] == [history.workflow_ids[0]]
    dead = handed[0].detail["dead_executor"]
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.executor == handed[0].executor != dead
    late = [s for s in history.steps if s.epoch == 2]
    assert late and {s.executor for s in late} == {root.executor}


@needs_dbos
def test_a_hand_over_nobody_answers_fails_so_that_the_supervisor_asks_again(
    env: LocalEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor asks a live worker to run DBOS's own recovery; an executor that does not
    answer (frozen, cut off, gone) makes the hand-over fail, not return an empty success."""
    monkeypatch.setattr(dbos_sut, "RECOVERY_ANSWER_S", 0.5)
    url = env.create_database("dbos-hand-over-unanswered")
    with DbosClient(url) as client, pytest.raises(HandOverFailed, match="nobody did not answer"):
        client.recover_executor("w1-dead", "nobody")


@needs_dbos
def test_a_failed_hand_over_is_asked_again_of_the_next_live_executor(
    env: LocalEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's first hand-over fails (as when the asked executor is frozen); it asks
    again, of the other live executor, and the event says how many attempts failed."""
    real, asked = DbosClient.recover_executor, []

    def first_fails(client: DbosClient, dead: str, live: str) -> list[str]:
        asked.append(live)
        if len(asked) == 1:
            raise HandOverFailed(f"{live} did not answer (this test)")
        return real(client, dead, live)

    monkeypatch.setattr(DbosClient, "recover_executor", first_fails)
    result = killed_at_call(env, 2, Recovery("supervised", detection_delay_s=0.5, standbys=2))
    assert result.valid == "true", result.judgement.summary()
    [handed] = result.history.events_of("supervisor_recovered")
    assert handed.detail["failed_attempts"] == 1, handed.detail
    assert "did not answer (this test)" in str(handed.detail["last_failure"])
    assert len(asked) == 2 and asked[0] != asked[1] == handed.executor
    assert result.history.workflows[0].status == "SUCCESS"


@needs_dbos
def test_a_frozen_worker_is_taken_over_and_fenced_when_it_resumes(env: LocalEnvironment) -> None:
    golden = golden_baseline(run_trial(env, spec().golden()))
    trial = spec(trigger=Trigger("received", call=2), trigger_name="held2",
                 fault=PauseFault(duration_s=8.0, order="timed"),
                 recovery=Recovery("supervised", detection_delay_s=1.0))  # fmt: skip
    result = run_trial(env, trial, golden)
    assert result.valid == "true", result.judgement.summary()
    history = result.history
    handed = history.events_of("supervisor_recovered")
    assert len(handed) == 1 and handed[0].detail["reason"] == "silent", [
        (e.kind, e.worker, e.executor, round((e.at_ns - history.started_ns) / 1e9, 2), e.detail)
        for e in history.events]
    fault_at, healed = history.fault_at_ns, history.healed_ns
    assert fault_at is not None and healed is not None
    assert not [s for s in history.steps if s.epoch == 1 and s.recorded_ns > fault_at], (
        "the zombie finished its step body but its checkpoint was refused")
    assert not [e for e in history.trial_ledger() if e.attempt == 1 and e.received_ns > healed]
    assert history.workflows[0].epoch == 2


@needs_dbos
def test_fan_out_runs_dbos_child_workflows(env: LocalEnvironment) -> None:
    params = canonical_params({"agents": 2, "child_turns": 1, "tokens_per_turn": 30,
                               "tool_latency_s": 0.0})  # fmt: skip
    result = run_trial(env, TrialSpec(scenario="test", sut="dbos", workload="multi_agent",
                                      params_json=params, timeout_s=60.0))  # fmt: skip
    workflows = result.history.workflows
    root = next(w for w in workflows if w.workflow_id in result.history.workflow_ids)
    children = [w for w in workflows if w.parent_id == root.workflow_id]
    assert root.status == "SUCCESS" and len(children) == 2
    assert all(c.status == "SUCCESS" for c in children)
    child_steps = {s.workflow_id for s in result.history.steps if s.kind == "llm"}
    assert {c.workflow_id for c in children} <= child_steps


def test_without_dbos_the_sut_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "dbos" else real(name, *a))  # fmt: skip
    reason = get_sut("dbos").available()
    assert reason is not None and "pip install 'durabench[dbos]'" in reason
    assert get_sut("dbos").describe().install == "pip install 'durabench[dbos]'"


@pytest.mark.parametrize(("dbos_status", "status"), [
    ("PENDING", "PENDING"), ("ENQUEUED", "PENDING"), ("DELAYED", "PENDING"),
    ("SUCCESS", "SUCCESS"), ("ERROR", "ERROR"), ("CANCELLED", "CANCELLED"),
    ("MAX_RECOVERY_ATTEMPTS_EXCEEDED", "DEAD_LETTER"),
])  # fmt: skip
def test_dbos_statuses_map_onto_the_historys(dbos_status: str, status: str) -> None:
    assert status_of(dbos_status) == status


def test_a_libpq_dsn_becomes_the_url_dbos_takes() -> None:
    url = sqlalchemy_url("host=127.0.0.1 port=5433 user=bench password=p@ss/w dbname=t_x")
    assert url == "postgresql://bench:p%40ss%2Fw@127.0.0.1:5433/t_x"
    assert sqlalchemy_url("postgresql://u@h:1/d?sslmode=disable").endswith("h:1/d?sslmode=disable")
