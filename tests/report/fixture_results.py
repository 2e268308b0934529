"""Builds the report fixture: plausible results lines, simulated rather than hand-edited.

The matrix is kill x {reference, reference-nockpt} x 3 triggers x 2 recoveries x 3 seeds (36
trials) of a 6-turn research agent (logical steps 0..7). Each trial's history is simulated on a
clock (calls, step records, fault, recovery) and every figure is derived from that history with the
definitions in docs/architecture.md, so figures, histories and charts agree. Without
checkpointing the recovered worker redoes every step, so redundant tokens grow with the crash step.

Regenerate the committed file with ``python tests/report/fixture_results.py``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.history import (
    PROPERTIES,
    EffectRecord,
    GoldenBaseline,
    HarnessEvent,
    History,
    LedgerEntry,
    Outcome,
    StepRecord,
    WorkflowRecord,
    to_json,
)
from harness.results import RESULT_SCHEMA

FIXTURE_PATH = Path(__file__).parent / "fixtures" / "results.jsonl"
BASE_NS = 1_764_150_000_000_000_000
LAST_STEP = 7
SUTS = ("reference", "reference-nockpt")
TRIGGERS = ("between_steps", "mid_step_early", "mid_step_late")
RECOVERIES = ("restart", "standby")
SEEDS = (0, 1, 2)
PRICE_IN = 2.5e-6
PRICE_OUT = 10e-6
_S = 1_000_000_000
_CRASH_BASE = {"between_steps": 2, "mid_step_early": 3, "mid_step_late": 4}
_FAULT_FRACTION = {"mid_step_early": 0.15, "mid_step_late": 0.85}


def step_tokens(step: int) -> tuple[int, int]:
    """(prompt, completion) tokens of a step's call: the context grows turn after turn."""
    return 600 + 350 * step, 150 + 10 * step


def _cost(prompt: int, completion: int) -> float:
    return prompt * PRICE_IN + completion * PRICE_OUT


@dataclass
class _Sim:
    trial_id: str
    checkpointing: bool
    durations: dict[int, int]
    t: int
    ledger: list[LedgerEntry] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    events: list[HarnessEvent] = field(default_factory=list)

    @property
    def workflow_id(self) -> str:
        return f"wf-{self.trial_id}"

    def call(self, step: int, executor: str, attempt: int) -> None:
        received = self.t
        responded = received + self.durations[step]
        self.ledger.append(self._entry(step, executor, attempt, received, responded, True))
        if self.checkpointing:
            self.steps.append(StepRecord(
                workflow_id=self.workflow_id, seq=step, name=f"llm-{step}", kind="llm", step=step,
                executor=executor, epoch=attempt, recorded_ns=responded + 3_000_000,
                nonce=f"n-{self.trial_id}-{step}-{attempt}"))
        self.t = responded + 20_000_000

    def lost_call(self, step: int, executor: str, fraction: float) -> int:
        """A call billed but whose response never reaches the worker; returns fault_at."""
        received = self.t
        responded = received + self.durations[step]
        self.ledger.append(self._entry(step, executor, 1, received, responded, False))
        return received + int(fraction * self.durations[step])

    def _entry(self, step: int, executor: str, attempt: int, received: int, responded: int,
               delivered: bool) -> LedgerEntry:
        prompt, completion = step_tokens(step)
        return LedgerEntry(
            request_id=f"r-{len(self.ledger)}", workflow_id=self.workflow_id, step=step,
            attempt=attempt, executor=executor, model="mock-gpt", received_ns=received,
            responded_ns=responded, status=200, prompt_tokens=prompt, completion_tokens=completion,
            cost_usd=round(_cost(prompt, completion), 8), delivered=delivered,
            nonce=f"n-{self.trial_id}-{step}-{attempt}")

    def event(self, at_ns: int, kind: Any, worker: str | None = None, **extra: Any) -> None:
        self.events.append(HarnessEvent(at_ns=at_ns, kind=kind, worker=worker, **extra))


def _fault(sim: _Sim, trigger: str, crash_step: int) -> int:
    """Run the workflow up to the fault; returns fault_at_ns."""
    for step in range(LAST_STEP + 1):
        if step == crash_step:
            if trigger == "between_steps":
                return sim.t
            return sim.lost_call(step, "worker-a", _FAULT_FRACTION[trigger])
        sim.call(step, "worker-a", 1)
    raise AssertionError("crash step beyond the workflow")


def _recover(sim: _Sim, recovery: str, fault_at: int, rng: random.Random) -> tuple[str, int]:
    """Kill, heal, and bring a worker back; returns (executor, when it resumes the workflow)."""
    sim.event(fault_at, "trigger_fired")
    sim.event(fault_at, "fault_fired", detail={"fault": "kill"})
    sim.event(fault_at + 2_000_000, "worker_exited", "worker-a", pid=4101, exit_code=-9,
              oom_killed=False)
    sim.event(fault_at + 3_000_000, "fault_healed", detail={"fault": "kill"})
    if recovery == "restart":
        started = fault_at + int((0.25 + rng.uniform(0, 0.1)) * _S)
        sim.event(started, "worker_started", "worker-a", pid=4177)
        return "worker-a", started + int((0.12 + rng.uniform(0, 0.04)) * _S)
    # a standby worker claims the workflow once the dead worker's lease expires
    return "worker-b", fault_at + int((1.0 + rng.uniform(0, 0.2)) * _S)


def _figures(history: History, golden: GoldenBaseline) -> dict[str, Any]:
    ledger = history.trial_ledger()
    fault_at = history.fault_at_ns
    assert fault_at is not None
    frontier = max(e.step for e in ledger
                   if e.delivered and e.responded_ns is not None and e.responded_ns < fault_at
                   and e.step is not None)
    after = [e for e in ledger if e.received_ns > fault_at]
    resume = min(e.received_ns for e in after)
    recover = min(e.received_ns for e in after if e.step is not None and e.step > frontier)
    tokens = sum(e.tokens for e in ledger)
    cost = sum(e.cost_usd for e in ledger)
    duration = (history.ended_ns - history.started_ns) / _S
    return {
        "tokens_billed": tokens, "golden_tokens_billed": golden.tokens_billed,
        "redundant_tokens": tokens - golden.tokens_billed,
        "redundant_calls": len(ledger) - golden.calls,
        "cost_usd": round(cost, 6), "redundant_cost_usd": round(cost - golden.cost_usd, 6),
        "fault_at_ns": fault_at, "frontier": frontier,
        "time_to_resume_s": round((resume - fault_at) / _S, 4),
        "time_to_recover_s": round((recover - fault_at) / _S, 4),
        "completion_delay_s": round(duration - golden.duration_s, 4),
        "duration_s": round(duration, 4), "golden_duration_s": round(golden.duration_s, 4),
    }


def _golden(durations: dict[int, int]) -> GoldenBaseline:
    steps = range(LAST_STEP + 1)
    ns = 50_000_000 + sum(durations[s] + 20_000_000 for s in steps) + 10_000_000
    return GoldenBaseline(
        tokens_billed=sum(sum(step_tokens(s)) for s in steps), calls=LAST_STEP + 1,
        cost_usd=sum(_cost(*step_tokens(s)) for s in steps), duration_s=ns / _S,
        step_tokens={s: sum(step_tokens(s)) for s in steps})


def _history(trial_id: str, sut: str, trigger: str, recovery: str, seed: int,
             started: int) -> tuple[History, int]:
    rng = random.Random(f"{trial_id}")
    durations = {s: int((0.12 + sum(step_tokens(s)) * 0.00008 + rng.uniform(0, 0.03)) * _S)
                 for s in range(LAST_STEP + 1)}
    checkpointing = sut == "reference"
    crash_step = _CRASH_BASE[trigger] + seed
    sim = _Sim(trial_id, checkpointing, durations, started + 50_000_000)
    sim.event(started, "trial_started")
    sim.event(started + 10_000_000, "worker_started", "worker-a", pid=4101)
    if recovery == "standby":
        sim.event(started + 12_000_000, "worker_started", "worker-b", pid=4102)
    sim.event(started + 40_000_000, "workflow_started")
    fault_at = _fault(sim, trigger, crash_step)
    executor, sim.t = _recover(sim, recovery, fault_at, rng)
    first = crash_step if checkpointing else 0
    sim.t += first * 1_000_000  # replaying recorded steps costs a read each, no LLM call
    for step in range(first, LAST_STEP + 1):
        sim.call(step, executor, 2)
    done = sim.t - 20_000_000 + 10_000_000
    sim.event(done + 5_000_000, "trial_ended")
    wid = sim.workflow_id
    history = History(
        trial_id=trial_id, workflow_ids=(wid,), checkpointing=checkpointing,
        ledger=tuple(sim.ledger), steps=tuple(sim.steps),
        workflows=(WorkflowRecord(wid, None, "SUCCESS", executor, 2, {"report": "ok"}, 1,
                                  started + 40_000_000, done),),
        outcomes=(Outcome(wid, "handle-0", "SUCCESS", {"report": "ok"}, done + 1_000_000),),
        effects=(EffectRecord(f"publish-{wid}", "publish", wid, executor, 2, done, True),),
        events=tuple(sorted(sim.events, key=lambda e: e.at_ns)), golden=_golden(durations),
        started_ns=started, ended_ns=done + 5_000_000)
    return history, crash_step


def _verdicts(checkpointing: bool) -> dict[str, str]:
    weak = {"no_replay", "bounded_waste"}
    return {p: "true" if checkpointing or p not in weak else "not promised" for p in PROPERTIES}


def build_trial(sut: str, trigger: str, recovery: str, seed: int, index: int) -> dict[str, Any]:
    """One trial line of the current schema (as a dict), history included."""
    trial_id = f"kill-{sut}-{trigger}-{recovery}-s{seed}"
    started = BASE_NS + index * 30 * _S
    history, crash_step = _history(trial_id, sut, trigger, recovery, seed, started)
    assert history.golden is not None
    figures = _figures(history, history.golden)
    return {
        "schema": RESULT_SCHEMA, "kind": "trial", "run_id": "20261126T091500-ab12",
        "trial_id": trial_id, "scenario": "kill", "sut": sut,
        "twin": "reference-nockpt" if history.checkpointing else None, "toxiproxy": "embedded",
        "checkpointing": history.checkpointing,
        "workload": "research_agent", "workload_params": {"turns": 6, "tokens_per_turn": 200},
        "fault": "kill", "trigger": trigger,
        "trigger_spec": {"kind": "received", "call": crash_step + 1}, "recovery": recovery,
        "seed": seed, "env": "local", "crash_step": crash_step, **figures,
        "tool_executions": 0, "redundant_tool_calls": None,
        "verdicts": _verdicts(history.checkpointing), "valid": "true", "verdict_summary": "",
        "history": to_json(history),
        "versions": {"durabench": "0.1.0", "python": "3.11.7", "postgres": "16.2"},
        "host": "ci-runner-1", "started_at": f"2026-11-26T09:{15 + index // 2:02d}:00Z",
        "wall_s": round(figures["duration_s"] + 1.1, 4), "shard": None,
    }


def build_trials() -> list[dict[str, Any]]:
    """The whole fixture matrix, in a fixed order."""
    trials: list[dict[str, Any]] = []
    for sut in SUTS:
        for trigger in TRIGGERS:
            for recovery in RECOVERIES:
                for seed in SEEDS:
                    trials.append(build_trial(sut, trigger, recovery, seed, len(trials)))
    return trials


def render_jsonl(trials: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(t, separators=(",", ":")) + "\n" for t in trials)


def main() -> None:
    FIXTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE_PATH.write_text(render_jsonl(build_trials()), encoding="utf-8")
    print(f"wrote {FIXTURE_PATH}")


if __name__ == "__main__":
    main()
