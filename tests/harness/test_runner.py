"""The trial runner end to end: real Postgres, provider process and worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.env.local import LocalEnvironment
from harness.faults import DegradeFault, KillFault, PauseFault
from harness.net import ENV_URL, find_binary
from harness.runner import golden_baseline, run_trial, with_golden
from harness.sut import get_sut
from harness.trial import Anchor, FollowUp, Recovery, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="runner-test") as env:
        yield env


def spec(sut: str = "reference", **kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(
        scenario="test", sut=sut, params_json=canonical_params(PARAMS.to_json()), timeout_s=40.0
    )
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def test_two_golden_runs_with_one_seed_bill_identical_tokens(env: LocalEnvironment) -> None:
    first = run_trial(env, spec().golden())
    second = run_trial(env, spec().golden())
    assert first.figures.tokens_billed == second.figures.tokens_billed > 0
    ledger = first.history.trial_ledger()
    assert [e.step for e in ledger] == list(range(PARAMS.llm_calls))
    assert all(e.delivered for e in ledger)
    nonces = {e.nonce for e in ledger} | {e.nonce for e in second.history.trial_ledger()}
    assert len(nonces) == 2 * PARAMS.llm_calls, "every response carries its own nonce"
    assert first.history.workflows[0].status == "SUCCESS"
    baseline = golden_baseline(first)
    assert sum(baseline.step_tokens.values()) == baseline.tokens_billed
    # the results line says which Toxiproxy served the trial, as the launcher chose it
    real = bool(os.environ.get(ENV_URL)) or find_binary() is not None
    label = first.to_json()["toxiproxy"]
    assert label == "embedded" if not real else str(label).startswith("real 2."), label
    assert baseline.path_step_tokens == {"0": dict(baseline.step_tokens)}
    assert baseline.path_effects == {"0": ("publish",)}
    # every tool execution is harness evidence, attributed like an LLM call
    tools = first.history.trial_tools()
    assert [t.step for t in tools] == list(range(1, PARAMS.turns + 1))
    assert all(t.ok and t.attempt == 1 and t.workflow_id == first.history.workflow_ids[0]
               for t in tools)
    assert baseline.tool_executions == len(tools) == first.figures.tool_executions
    assert first.postgres_version and first.twin == "reference-nockpt"


@pytest.mark.parametrize("sut", ["reference", "reference-nockpt"])
def test_a_kill_while_the_call_is_held_bills_the_lost_response(
    env: LocalEnvironment, sut: str
) -> None:
    golden = golden_baseline(run_trial(env, spec(sut).golden()))
    held = spec(sut, trigger=Trigger("received", call=2), trigger_name="held2",
                fault=KillFault(), recovery=Recovery("restart"))  # fmt: skip
    result = run_trial(env, held, golden)
    lost = [e for e in result.history.trial_ledger() if not e.delivered]
    assert len(lost) == 1 and lost[0].step == 1
    assert lost[0].completion_tokens == PARAMS.tokens_per_turn and lost[0].prompt_tokens > 0
    assert result.history.workflows[0].status == "SUCCESS"
    assert result.valid == "true", result.judgement.summary()
    exits = result.history.events_of("worker_exited")
    assert any(e.exit_code == -9 for e in exits), exits


def test_a_trial_past_its_timeout_is_unknown_and_torn_down(env: LocalEnvironment) -> None:
    result = run_trial(env, spec(trigger=Trigger("received", call=99), trigger_name="never",
                                 fault=KillFault(), timeout_s=15.0))  # fmt: skip
    assert result.history.timed_out
    assert result.valid == "unknown"
    assert result.history.workflows, "the history so far is kept"


def test_multi_agent_fans_out_to_child_workflows(env: LocalEnvironment) -> None:
    params = canonical_params({"agents": 3, "child_turns": 1, "tokens_per_turn": 30,
                               "tool_latency_s": 0.0})  # fmt: skip
    result = run_trial(env, TrialSpec(scenario="test", sut="reference", workload="multi_agent",
                                      params_json=params, timeout_s=40.0))  # fmt: skip
    workflows = result.history.workflows
    root = next(w for w in workflows if w.workflow_id in result.history.workflow_ids)
    children = [w for w in workflows if w.parent_id == root.workflow_id]
    assert root.status == "SUCCESS" and len(children) == 3
    assert all(c.status == "SUCCESS" for c in children)
    calls = {w.workflow_id: sum(e.workflow_id == w.workflow_id for e in result.history.ledger)
             for w in workflows}  # fmt: skip
    assert calls[root.workflow_id] == 2  # plan + merge
    assert all(calls[c.workflow_id] == 3 for c in children)  # plan, 1 turn, write
    assert [len(n) for n in root.output["children"]] == [3, 3, 3]


def test_a_kill_after_a_checkpoint_with_delayed_recovery(env: LocalEnvironment) -> None:
    """The ``checkpointed`` trigger reads the SUT's own store; ``delayed`` recovery (pod
    rescheduling) holds the replacement back, which time_to_resume shows."""
    golden = golden_baseline(run_trial(env, spec().golden()))
    delayed = spec(trigger=Trigger("checkpointed", step=1), trigger_name="after_ckpt_1",
                   fault=KillFault(), recovery=Recovery("delayed", delay_s=1.5))  # fmt: skip
    result = run_trial(env, delayed, golden)
    assert result.valid == "true", result.judgement.summary()
    fired = result.history.events_of("trigger_fired")
    assert fired and fired[0].detail == {"step": 1}
    llm_records = [s.step for s in result.history.steps if s.kind == "llm"]
    assert llm_records == sorted(set(llm_records)), "no LLM step recorded twice"
    assert result.figures.time_to_resume_s is not None and result.figures.time_to_resume_s >= 1.5


def test_a_seeded_random_trigger_fires_at_the_same_time_for_the_same_seed() -> None:
    first = Trigger("random", window_s=(0.2, 0.9), seed=7)
    again = Trigger("random", window_s=(0.2, 0.9), seed=7)
    other = Trigger("random", window_s=(0.2, 0.9), seed=8)
    delays = [t.planned_delay_s() for t in (first, again, other)]
    assert delays[0] == delays[1] != delays[2]
    assert all(0.2 <= d <= 0.9 for d in delays)


def test_a_trial_run_beside_its_golden_run_is_judged_against_it_afterwards(
    env: LocalEnvironment,
) -> None:
    """``with_golden`` (used by ``TrialRunner.run_many``): the same history, figures and verdicts
    as if the baseline had been known when the trial ran."""
    golden = golden_baseline(run_trial(env, spec().golden()))
    held = spec(trigger=Trigger("received", call=2), trigger_name="beside", fault=KillFault())
    alone = run_trial(env, held)
    assert alone.figures.redundant_tokens is None
    assert alone.judgement.verdicts["bounded_waste"].valid == "unknown"
    judged = with_golden(alone, golden)
    assert judged.history.golden == golden and judged.golden_tokens_billed == golden.tokens_billed
    assert judged.figures.redundant_tokens == judged.figures.tokens_billed - golden.tokens_billed
    assert judged.judgement.verdicts["bounded_waste"].valid == "true"
    assert judged.valid == "true", judged.judgement.summary()


@pytest.mark.parametrize("when", ["injected", "healed"])
def test_a_follow_up_fault_fires_on_its_anchor_on_the_current_owner(
    env: LocalEnvironment, when: Anchor
) -> None:
    """The worker is killed with a call held; a second kill follows (during the first fault, or
    after its heal) on whichever worker then runs: the restarted one, once it is up."""
    golden = golden_baseline(run_trial(env, spec().golden()))
    twice = spec(trigger=Trigger("received", call=2), trigger_name="held2", fault=KillFault(),
                 recovery=Recovery("restart"), then=(FollowUp(KillFault(), when=when),))
    result = run_trial(env, twice, golden)
    assert result.valid == "true", result.judgement.summary()
    fired = result.history.events_of("fault_fired")
    healed = result.history.events_of("fault_healed")
    assert [e.detail.get("index") for e in fired] == [0, 1]
    assert {e.detail.get("index") for e in healed} == {0, 1}
    assert fired[0].pid != fired[1].pid, "the second kill hit the replacement"
    first_healed = next(e for e in healed if e.detail.get("index") == 0)
    if when == "injected":  # the two faults overlap: the first heals after the second fired
        assert first_healed.at_ns > fired[1].at_ns
    else:
        assert first_healed.at_ns < fired[1].at_ns
    assert result.to_json()["followups"] == [
        {"fault": "kill", "fault_params": {}, "when": when, "delay_s": 0.0}]


def test_an_overlapping_follow_up_waits_for_its_anchor_while_the_fault_before_it_is_in_place(
    env: LocalEnvironment,
) -> None:
    """A slow store link from the kill on; the restarted worker's first claim arrives through it
    and is killed: the link heals only after that second kill (``overlap``), not before it."""
    golden = golden_baseline(run_trial(env, spec().golden()))
    claim = get_sut("reference").describe().claim_poll
    assert claim is not None
    slow = FollowUp(DegradeFault(attributes=(("latency", 50),), duration_s=0.0))
    kill = FollowUp(KillFault(), when="statement", pattern=claim, overlap=True)
    spec_ = spec(trigger=Trigger("received", call=2), trigger_name="held2", fault=KillFault(),
                 recovery=Recovery("restart"), then=(slow, kill))
    result = run_trial(env, spec_, golden)
    assert result.valid == "true", result.judgement.summary()
    fired = {e.detail.get("index"): e for e in result.history.events_of("fault_fired")}
    healed = {e.detail.get("index"): e for e in result.history.events_of("fault_healed")}
    assert sorted(fired) == sorted(healed) == [0, 1, 2]
    assert fired[2].detail.get("anchor") == "statement"
    assert fired[1].at_ns < fired[2].at_ns < healed[2].at_ns < healed[1].at_ns
    assert result.to_json()["followups"][1]["overlap"] is True


def test_a_follow_up_on_a_statements_sender_faults_the_worker_that_sent_it(
    env: LocalEnvironment,
) -> None:
    """The owner is killed; the first standby whose claim poll arrives after that is stopped for
    a second (``on_sender``: told by its session's name, which carries its executor id)."""
    golden = golden_baseline(run_trial(env, spec().golden()))
    claim = get_sut("reference").describe().claim_poll
    assert claim is not None
    frozen = FollowUp(PauseFault(order="timed", duration_s=1.0), when="statement",
                      pattern=claim, on_sender=True)
    spec_ = spec(trigger=Trigger("received", call=2), trigger_name="held2", fault=KillFault(),
                 recovery=Recovery("standby", standbys=2), then=(frozen,))
    result = run_trial(env, spec_, golden)
    assert result.valid == "true", result.judgement.summary()
    killed, paused = result.history.events_of("fault_fired")
    assert paused.executor != killed.executor
    assert str(paused.detail.get("application", "")).endswith(f":{paused.executor}")
    assert result.history.workflows[0].status == "SUCCESS"


def _trial_databases(env: LocalEnvironment) -> set[str]:
    import psycopg

    with psycopg.connect(env.postgres_url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
        return {r[0] for r in rows}


def test_a_trial_drops_its_database_once_read_unless_the_environment_is_kept(
    env: LocalEnvironment,
) -> None:
    """A long session's hundreds of trial databases made each Postgres crash recovery slower
    (the db_crash heal grew with the run); a kept environment keeps them for a post-mortem."""
    before = _trial_databases(env)
    result = run_trial(env, spec().golden())
    assert result.history.workflows[0].status == "SUCCESS"
    assert _trial_databases(env) == before
    env.keep = True
    try:
        run_trial(env, spec().golden())
        assert len(_trial_databases(env) - before) == 1
    finally:
        env.keep = False
