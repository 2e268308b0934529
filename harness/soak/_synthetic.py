"""A synthetic soak history shaped like the research agent's, for the checkers' benchmark and
tests: per workflow 6 LLM calls, 4 tool executions, their step records, one effect, a SUCCESS
record and an outcome, arriving every third of a second; ``faults`` faults of every kind spread
over the soak, each healed a second later. It is clean: every soak checker passes on it."""

from __future__ import annotations

from harness.history import (
    EffectRecord,
    GoldenBaseline,
    HarnessEvent,
    History,
    LedgerEntry,
    Outcome,
    StepRecord,
    ToolExecution,
    WorkflowRecord,
)

S = 1_000_000_000
KINDS = ("kill", "evict", "pause", "db_crash", "partition", "degrade", "provider_errors")


def _workflow(i: int, t: int) -> dict[str, list[object]]:
    wid, ex = f"wf-{i:05d}", f"soak-w{i % 3}"
    out: dict[str, list[object]] = {k: [] for k in ("ledger", "steps", "tools", "effects")}
    seq = 0
    nonces = {}
    for step in range(6):
        at = t + step * S // 3
        nonce = f"n{i}-{step}"
        nonces[str(step)] = nonce
        out["ledger"].append(LedgerEntry(f"r{i}-{step}", wid, step, 1, ex, "mock", at,
                                         at + S // 20, 200, 300, 200, 0.001, True, nonce))
        out["steps"].append(StepRecord(wid, seq, f"llm{step}", "llm", step, ex, 1,
                                       at + S // 10, nonce))
        seq += 1
        if 1 <= step <= 4:
            out["tools"].append(ToolExecution(f"t{i}-{step}", wid, step, 1, ex, "search",
                                              at + S // 8, at + S // 5, True))
            out["steps"].append(StepRecord(wid, seq, "search", "tool", step, ex, 1, at + S // 4))
            seq += 1
    end = t + 2 * S
    out["effects"].append(EffectRecord(f"{wid}:publish", "publish", wid, ex, 1, end, True))
    out["steps"].append(StepRecord(wid, seq, "publish", "effect", 6, ex, 1, end + 1))
    record = WorkflowRecord(wid, None, "SUCCESS", ex, 1, {"llm_nonces": nonces}, 0, t, end + 2)
    return {**out, "record": [record],
            "outcome": [Outcome(wid, "harness", "SUCCESS", record.output, end + 3)],
            "started": [HarnessEvent(t - 1, "workflow_started", detail={"workflow_id": wid})]}


def synthetic(workflows: int, faults: int) -> History:
    parts: dict[str, list[object]] = {}
    for i in range(workflows):
        for key, items in _workflow(i, i * S // 3).items():
            parts.setdefault(key, []).extend(items)
    span = max(1, workflows * S // 3)
    events: list[object] = list(parts["started"])
    for f in range(faults):
        at = f * span // max(1, faults)
        detail = {"fault": KINDS[f % len(KINDS)], "fault_id": f}
        events += [HarnessEvent(at, "fault_fired", executor=f"soak-w{f % 3}", detail=detail),
                   HarnessEvent(at + S, "fault_healed", detail=detail)]
    golden = GoldenBaseline(tokens_billed=3000, calls=6, cost_usd=0.006, duration_s=2.0,
                            step_tokens={s: 500 for s in range(6)})
    return History(
        trial_id="synthetic", workflow_ids=tuple(f"wf-{i:05d}" for i in range(workflows)),
        checkpointing=True, ledger=tuple(parts["ledger"]),  # type: ignore[arg-type]
        steps=tuple(parts["steps"]), workflows=tuple(parts["record"]),  # type: ignore[arg-type]
        outcomes=tuple(parts["outcome"]), effects=tuple(parts["effects"]),  # type: ignore[arg-type]
        events=tuple(sorted(events, key=lambda e: e.at_ns)),  # type: ignore[arg-type]
        tools=tuple(parts["tools"]), golden=golden,  # type: ignore[arg-type]
        started_ns=0, ended_ns=span + 10 * S)
