"""Figures over hand-written histories: one canonical trial of 4 logical LLM steps, one per second.

Attempt 1 on worker w1 requests step k at k s (delivered at k+0.5, recorded at k+0.6). In the
crash variants w1 is killed at 2.2 s while step 2 is in flight (its response, sent at 2.5, is
billed but never delivered); attempt 2 on w2 takes over at 3.0 s.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.figures import (
    Figures,
    compute_figures,
    frontiers,
    in_flight_calls,
    in_flight_steps,
    in_flight_tools,
)
from harness.history import (
    EventKind,
    GoldenBaseline,
    HarnessEvent,
    History,
    LedgerEntry,
    StepRecord,
    ToolExecution,
    WorkflowRecord,
    history_from_json,
)

T0 = 1_700_000_000_000_000_000


def at(seconds: float) -> int:
    return T0 + round(seconds * 1e9)


def led(step: int, t: float, attempt: int = 1, executor: str = "w1", *, delivered: bool = True,
        responded: float | None = None, tokens: tuple[int, int] = (100, 50)) -> LedgerEntry:
    return LedgerEntry(
        request_id=f"r{step}-{attempt}-{t}", workflow_id="wf-1", step=step, attempt=attempt,
        executor=executor, model="m", received_ns=at(t),
        responded_ns=at(t + 0.5 if responded is None else responded), status=200,
        prompt_tokens=tokens[0], completion_tokens=tokens[1], cost_usd=0.001,
        delivered=delivered, nonce=f"n{step}a{attempt}")


def rec(step: int, t: float, epoch: int = 1, executor: str = "w1") -> StepRecord:
    return StepRecord(workflow_id="wf-1", seq=step, name=f"llm-{step}", kind="llm", step=step,
                      executor=executor, epoch=epoch, recorded_ns=at(t), nonce=f"n{step}a{epoch}")


def ev(kind: EventKind, t: float, **fields: Any) -> HarnessEvent:
    return HarnessEvent(at_ns=at(t), kind=kind, **fields)


def done(t: float, status: Any = "SUCCESS", epoch: int = 2,
         executor: str = "w2") -> WorkflowRecord:
    return WorkflowRecord(workflow_id="wf-1", parent_id=None, status=status, executor=executor,
                          epoch=epoch, output={}, recovery_attempts=epoch - 1, created_ns=at(0),
                          updated_ns=at(t))


GOLDEN = GoldenBaseline(tokens_billed=600, calls=4, cost_usd=0.004, duration_s=5.0,
                        step_tokens={0: 150, 1: 150, 2: 150, 3: 150})
KILL = (ev("workflow_started", 0.0), ev("fault_fired", 2.2, worker="w1"),
        ev("worker_exited", 2.2, worker="w1", executor="w1", exit_code=-9),
        ev("fault_healed", 2.5))
FIRST = (led(0, 0.0), led(1, 1.0), led(2, 2.0, delivered=False, responded=2.5))


def trial(ledger: tuple[LedgerEntry, ...], *, checkpointing: bool = True,
          steps: tuple[StepRecord, ...] = (), events: tuple[HarnessEvent, ...] = KILL,
          end: float = 5.5, golden: GoldenBaseline | None = GOLDEN) -> History:
    return History(trial_id="t", workflow_ids=("wf-1",), checkpointing=checkpointing,
                   ledger=ledger, steps=steps, workflows=(done(end),), events=events,
                   golden=golden, started_ns=at(0), ended_ns=at(20))


CLEAN = trial(tuple(led(k, float(k)) for k in range(4)),
              steps=tuple(rec(k, k + 0.6) for k in range(4)),
              events=(ev("workflow_started", 0.0),), end=5.0)
CKPT = trial((*FIRST, led(2, 3.0, 2, "w2"), led(3, 4.0, 2, "w2")),
             steps=(rec(0, 0.6), rec(1, 1.6), rec(2, 3.6, 2, "w2"), rec(3, 4.6, 2, "w2")))
NOCKPT = trial((*FIRST, *(led(k, 3.0 + k, 2, "w2") for k in range(4))), checkpointing=False,
               end=7.5)
# The killed worker had put a request on the wire just before dying: not a resumption.
RACE = replace(CKPT, ledger=(*CKPT.ledger, led(3, 2.25, delivered=False)))
# Same, but the heal (restarting the worker) ran at once: the exited worker still does not count.
RACE_AFTER_HEAL = replace(RACE, events=(*KILL[:3], ev("fault_healed", 2.21)))
# w1 is paused at 2.2 and continued at 4.0; nobody takes over, w1 carries on by itself.
PAUSE = replace(trial((*FIRST[:2], led(2, 2.0, responded=4.05), led(3, 4.1)),
                      steps=(rec(0, 0.6), rec(1, 1.6), rec(2, 4.06), rec(3, 4.6)),
                      events=(ev("workflow_started", 0.0), ev("fault_fired", 2.2, worker="w1"),
                              ev("fault_healed", 4.0))),
                workflows=(done(5.0, epoch=1, executor="w1"),))
# Postgres crashes at 2.2 while w1 is between steps 2 and 3 and comes back at 4.8; w1 never dies
# and goes on with step 3 at 2.3 (its LLM calls do not need Postgres). Before the heal, yet the
# workflow is back where the fault caught it: recovered, not "never recovered".
RIDE_OUT = replace(trial((led(0, 0.0), led(1, 1.0), led(2, 1.6), led(3, 2.3)),
                         steps=(rec(0, 0.6), rec(1, 1.6)),
                         events=(ev("workflow_started", 0.0), ev("fault_fired", 2.2, worker="w1"),
                                 ev("fault_healed", 4.8))),
                   workflows=(done(5.0, epoch=1, executor="w1"),))
# The fault caught the last LLM step after its delivery: no request beyond the frontier; the
# terminal write stands in.
LAST_STEP = replace(trial(tuple(led(k, float(k)) for k in range(4)),
                          events=(ev("workflow_started", 0.0), ev("fault_fired", 3.7)), end=4.2),
                    workflows=(done(4.2, epoch=1, executor="w1"),))
NEVER = trial(FIRST, steps=(rec(0, 0.6), rec(1, 1.6)), events=KILL[:3])
# The provider hangs step 2's call (received at 2.3, after the fault armed at 2.2) until 5.0;
# the worker times out and retries at 3.5, answered: that is when it is back beyond the frontier.
HANG = replace(trial((led(0, 0.0), led(1, 1.0), led(2, 2.3, delivered=False, responded=5.0),
                      led(2, 3.5), led(3, 4.0)),
                     events=(ev("workflow_started", 0.0),
                             ev("fault_fired", 2.2, worker="w1",
                                detail={"fault": "provider_errors"}),
                             ev("fault_healed", 5.0))),
               workflows=(done(5.0, epoch=1, executor="w1"),))
# w1 is SIGSTOPped at 2.2 with step 2's request on the wire (received at 2.3, answered into its
# socket); resumed at 4.1, it goes on with step 3.
PAUSE_WIRE = replace(trial((led(0, 0.0), led(1, 1.0), led(2, 2.3, responded=2.35), led(3, 4.1)),
                           events=(ev("workflow_started", 0.0),
                                   ev("fault_fired", 2.2, worker="w1", detail={"fault": "pause"}),
                                   ev("fault_healed", 4.0))),
                     workflows=(done(5.0, epoch=1, executor="w1"),))
# Resumable calls: step 2's background response (requested by w1 at 2.0) is retrieved by w2 at
# 3.0 -- resumed, not called again -- and w2 calls step 3 at 4.0. Nothing is paid twice.
RESUMED = trial((*FIRST[:2], replace(led(2, 2.0, responded=2.5), resumed_attempt=2,
                                     resumed_ns=at(3.0)), led(3, 4.0, 2, "w2")),
                steps=(rec(0, 0.6), rec(1, 1.6), rec(2, 3.1, 2, "w2"), rec(3, 4.6, 2, "w2")))


def _check(figures: Figures, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        got = getattr(figures, name)
        if isinstance(value, float):
            assert got == pytest.approx(value, abs=1e-6), name
        else:
            assert got == value, name


CASES: list[tuple[str, History, dict[str, Any]]] = [
    ("no fault: nothing fault-relative", CLEAN, dict(
        tokens_billed=600, calls=4, cost_usd=0.004, redundant_tokens=0, redundant_calls=0,
        redundant_cost_usd=0.0, fault_at_ns=None, frontier=None, time_to_resume_s=None,
        time_to_recover_s=None, duration_s=5.0, completion_delay_s=0.0)),
    ("checkpointing: undelivered call billed, resume == recover", CKPT, dict(
        tokens_billed=750, calls=5, cost_usd=0.005, redundant_tokens=150, redundant_calls=1,
        redundant_cost_usd=0.001, fault_at_ns=at(2.2), frontier=1, time_to_resume_s=0.8,
        time_to_recover_s=0.8, duration_s=5.5, completion_delay_s=0.5)),
    ("no checkpointing: recover waits for the redo of steps 0 and 1", NOCKPT, dict(
        tokens_billed=1050, calls=7, redundant_tokens=450, redundant_calls=3, frontier=1,
        time_to_resume_s=0.8, time_to_recover_s=2.8, duration_s=7.5, completion_delay_s=2.5)),
    ("killed worker's last request is not a resumption", RACE, dict(
        tokens_billed=900, frontier=1, time_to_resume_s=0.8, time_to_recover_s=0.8)),
    ("exited worker's request after a quick heal is not a resumption", RACE_AFTER_HEAL, dict(
        time_to_resume_s=0.8, time_to_recover_s=0.8)),
    ("paused worker resumes itself after the heal", PAUSE, dict(
        frontier=1, time_to_resume_s=1.86, time_to_recover_s=1.9)),
    ("never resumed", replace(NEVER, workflows=(done(5.5, "PENDING", epoch=1, executor="w1"),)),
     dict(tokens_billed=450, frontier=1, time_to_resume_s=None, time_to_recover_s=None)),
    ("ridden out before the heal: resumed and recovered at the next step", RIDE_OUT, dict(
        frontier=2, time_to_resume_s=0.1, time_to_recover_s=0.1)),
    ("a hung call is a sign of life but no recovery; its answered retry is", HANG, dict(
        frontier=1, time_to_resume_s=0.1, time_to_recover_s=1.3)),
    ("a paused worker's request on the wire is no sign of life before the heal", PAUSE_WIRE,
     dict(frontier=1, time_to_resume_s=1.9, time_to_recover_s=1.9)),
    ("fault after the last LLM step: the terminal write", LAST_STEP, dict(
        frontier=3, time_to_recover_s=0.5)),
    ("the zombie's beyond-frontier request is not recovery", replace(
        CKPT, ledger=(*CKPT.ledger, led(3, 2.9, 1, "w1"))), dict(time_to_recover_s=0.8)),
    ("fault before any delivery: frontier -1", trial(
        (led(0, 0.0, delivered=False, responded=0.5), led(0, 1.0, 2, "w2")),
        events=(ev("workflow_started", 0.0), ev("fault_fired", 0.2))), dict(
        frontier=-1, time_to_resume_s=0.8, time_to_recover_s=0.8, tokens_billed=300)),
    ("response answered before the fault but not delivered is not the frontier", trial(
        (led(0, 0.0), led(1, 1.0, delivered=False, responded=1.5)),
        events=(ev("workflow_started", 0.0), ev("fault_fired", 2.2))), dict(frontier=0)),
    ("resumed call: resume and recover at its retrieve by the new owner, nothing redundant",
     RESUMED, dict(tokens_billed=600, redundant_tokens=0, redundant_calls=0, frontier=1,
                   time_to_resume_s=0.8, time_to_recover_s=0.8)),
    ("a call resumed by a superseded epoch is not recovery", replace(RESUMED, ledger=(
        *FIRST[:2], replace(led(2, 2.0, responded=2.5), resumed_attempt=1, resumed_ns=at(3.0)),
        led(3, 4.0, 2, "w2"))), dict(time_to_recover_s=1.8)),
    ("no golden: no redundancy or delay", replace(CKPT, golden=None), dict(
        redundant_tokens=None, redundant_calls=None, redundant_cost_usd=None,
        completion_delay_s=None, duration_s=5.5, tokens_billed=750)),
    ("a root given up on: no redundancy (less than the golden run's work was done)", replace(
        CKPT, workflows=(done(5.5, "DEAD_LETTER"),)), dict(
        redundant_tokens=None, redundant_calls=None, redundant_cost_usd=None,
        redundant_tool_calls=None, tokens_billed=750, completion_delay_s=0.5)),
    ("root still pending: no duration, and no redundancy (it did less than the golden run)",
     replace(CKPT, workflows=(done(5.5, "PENDING"),)), dict(
        duration_s=None, completion_delay_s=None, redundant_tokens=None, redundant_calls=None,
        redundant_cost_usd=None, redundant_tool_calls=None, tokens_billed=750)),
    ("duration from started_ns without workflow_started", replace(CKPT, events=KILL[1:]), dict(
        duration_s=5.5)),
]


@pytest.mark.parametrize(("name", "history", "expected"), CASES, ids=[c[0] for c in CASES])
def test_figures(name: str, history: History, expected: dict[str, Any]) -> None:
    _check(compute_figures(history), expected)


@pytest.mark.parametrize(("fault_at", "checkpointing", "expected"), [
    (2.2, True, {2}),      # step 2 requested, step 3 not
    (2.55, True, {2}),     # delivered at 2.5, not yet recorded (2.6)
    (2.55, False, {2}),    # the same without checkpoints: the ledger alone decides
    (2.65, True, {2}),     # recorded at 2.6, step 3 not requested yet (its tool may be running)
    (1.8, True, {1}),      # between the calls of steps 1 and 2
    (5.5, True, set()),    # the workflow was terminal (5.0) before the fault
    (None, True, set()),   # no fault
])
def test_in_flight_steps(fault_at: float | None, checkpointing: bool,
                         expected: set[int]) -> None:
    events: tuple[HarnessEvent, ...] = (ev("workflow_started", 0.0),)
    if fault_at is not None:
        events += (ev("fault_fired", fault_at),)
    history = replace(CLEAN, events=events, checkpointing=checkpointing,
                      steps=CLEAN.steps if checkpointing else ())
    assert in_flight_steps(history) == frozenset(expected)


def test_a_runtime_that_records_late_does_not_widen_what_was_in_flight() -> None:
    """No step records at all (a runtime that records late or never): still only step 2."""
    late = replace(CKPT, steps=())
    assert in_flight_calls(late) == in_flight_calls(CKPT) == frozenset({("wf-1", 2)})


def test_children_have_their_own_frontier_and_in_flight_step() -> None:
    child = WorkflowRecord(workflow_id="wf-1:c", parent_id="wf-1", status="SUCCESS",
                           executor="w2", epoch=2, output={}, recovery_attempts=1,
                           created_ns=at(0.1), updated_ns=at(5.0))
    child_calls = (replace(led(0, 0.2), workflow_id="wf-1:c", request_id="c0"),
                   replace(led(1, 2.1, delivered=False), workflow_id="wf-1:c", request_id="c1"))
    history = replace(CKPT, ledger=(*CKPT.ledger, *child_calls),
                      workflows=(*CKPT.workflows, child))
    assert frontiers(history) == {"wf-1": 1, "wf-1:c": 0}
    assert in_flight_calls(history) == frozenset({("wf-1", 2), ("wf-1:c", 1)})


def test_tool_executions_are_counted_and_redundant_ones_shown() -> None:
    def tool(step: int, t: float, attempt: int, executor: str) -> ToolExecution:
        return ToolExecution(f"t{step}-{t}", "wf-1", step, attempt, executor, "search", at(t),
                             None if attempt == 1 and t > 2 else at(t + 0.2), True)

    golden = replace(GOLDEN, tool_executions=2)
    history = replace(CKPT, golden=golden, tools=(tool(1, 1.55, 1, "w1"), tool(2, 2.1, 1, "w1"),
                                                  tool(2, 3.55, 2, "w2")))
    figures = compute_figures(history)
    assert (figures.tool_executions, figures.redundant_tool_calls) == (3, 1)
    assert in_flight_tools(history) == frozenset({("wf-1", 2)})
    assert compute_figures(CKPT).redundant_tool_calls is None  # golden count unknown


def test_figures_as_json_is_plain() -> None:
    data = compute_figures(CKPT).as_json()
    assert data["redundant_tokens"] == 150 and data["frontier"] == 1


def test_a_teardown_stop_is_not_an_exit_caused_by_the_fault() -> None:
    """A fault the worker rides out (provider errors, a partition): its own activity after the
    heal is the resume, although the harness stops it when the trial ends."""
    from harness.figures import compute_figures
    from harness.history import HarnessEvent, History, LedgerEntry

    def call(step: int, at: int) -> LedgerEntry:
        return LedgerEntry(f"r{step}-{at}", "wf", step, 1, "w1", "m", at, at + 10, 200, 5, 5,
                           0.0, True, f"n{step}{at}")  # fmt: skip

    history = History(
        trial_id="t", workflow_ids=("wf",), checkpointing=True,
        ledger=(call(0, 100), call(1, 2_000_000_000), call(2, 3_000_000_000)),
        workflows=(WorkflowRecord("wf", None, "SUCCESS", "w1", 1, {}, 0, 0, 3_500_000_000),),
        events=(
            HarnessEvent(50, "worker_started", worker="w1.0", executor="w1"),
            HarnessEvent(1_000_000_000, "fault_fired", worker="w1.0", executor="w1"),
            HarnessEvent(1_000_000_100, "fault_healed", worker="w1.0"),
            HarnessEvent(4_000_000_000, "worker_exited", worker="w1.0", executor="w1",
                         exit_code=-9, detail={"stopped_by": "teardown"}),
        ),
    )  # fmt: skip
    figures = compute_figures(history)
    assert figures.time_to_resume_s == 1.0
    assert figures.time_to_recover_s == 1.0


def test_the_example_store_s_never_recovered_trials_recovered() -> None:
    """The schema-1 store of a real CI run (once reports/example/) read 10 valid trials
    (db_crash, partition, a hung provider call) as "never recovered" although the same execution
    moved past the frontier 0.1 s after the fault. Recomputed from their stored histories, every
    trial whose root completed has a time to recover."""
    import json
    from pathlib import Path

    from harness.results import load_records

    store = (Path(__file__).resolve().parents[1] / "tests" / "report" / "fixtures"
             / "schema1_run.jsonl")
    raw = [json.loads(line) for line in store.read_text().splitlines()]
    stored_ttr = {(r["env"], r["run_id"], r["trial_id"]): r["time_to_recover_s"]
                  for r in raw if r["kind"] == "trial"}
    trials = [r for r in load_records(store) if r.kind == "trial"]
    was_never = [r for r in trials if stored_ttr[(r.env, r.run_id, r.trial_id)] is None]
    assert len(was_never) == 10
    assert {r.fault for r in was_never} == {"db_crash", "partition", "provider_errors"}
    for record in trials:
        history = record.parsed_history()
        assert history is not None
        root = next(w for w in history.workflows if w.workflow_id == history.workflow_ids[0])
        ttr = compute_figures(history).time_to_recover_s
        assert root.status == "SUCCESS" and ttr is not None and ttr >= 0, record.trial_id
        assert record.time_to_recover_s == ttr  # reading a schema-1 line recomputes its figures
    rode_out = [r.time_to_recover_s for r in was_never if r.trigger == "between_steps"]
    assert rode_out and all(t is not None and t < 0.5 for t in rode_out)


# -- the definitions hold on every stored trial of real runs ---------------------------------------

_REAL_STORES = (
    Path(__file__).resolve().parents[1] / "reports" / "example" / "results.jsonl",
    Path(__file__).resolve().parent / "report" / "fixtures" / "real_run.jsonl",
)


def _stored_histories() -> list[tuple[str, History]]:
    found = []
    for store in _REAL_STORES:
        for line in store.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("kind") == "trial" and record.get("history"):
                found.append((f"{store.parent.name}:{record['trial_id']}",
                              history_from_json(record["history"])))
    return found


def test_recover_never_precedes_resume_on_any_stored_trial() -> None:
    """Issue 22: db_crash, partition, degrade and a hung provider call had time_to_recover (the
    first request beyond the frontier, counted even when it was the hung one) before
    time_to_resume (the same worker's activity counted only after the heal)."""
    checked = 0
    for name, history in _stored_histories():
        figures = compute_figures(history)
        resume, recover = figures.time_to_resume_s, figures.time_to_recover_s
        for value in (resume, recover):
            assert value is None or value >= 0, name
        if resume is not None and recover is not None:
            assert recover >= resume - 1e-9, (name, resume, recover)
            checked += 1
        if figures.completion_delay_s is not None:
            assert history.golden is not None and figures.duration_s is not None
            assert figures.completion_delay_s == pytest.approx(
                figures.duration_s - history.golden.duration_s)
    assert checked > 250  # the stores' faulted trials, not a vacuous pass


def test_a_trial_that_paid_what_its_golden_run_paid_wastes_exactly_nothing() -> None:
    """The golden run's cost and the trial's are sums of the same prices in another order:
    0.1 + 0.2 + 0.3 is not 0.3 + 0.2 + 0.1 in floating point, and a gate reading
    ``redundant_cost_usd >= 0`` once failed a clean trial on -7e-18."""
    prices = (0.1, 0.2, 0.3)
    ledger = tuple(replace(led(k, float(k)), cost_usd=p) for k, p in enumerate(prices))
    golden = replace(GOLDEN, tokens_billed=450, calls=3,
                     cost_usd=compute_figures(trial(tuple(reversed(ledger)))).cost_usd)
    fig = compute_figures(trial(ledger, events=(ev("workflow_started", 0.0),), golden=golden))
    assert fig.redundant_cost_usd == 0.0
