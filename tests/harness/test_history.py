"""History values: workflow paths that name a workflow the same way in every run, and the JSON
round trip of the golden baseline (old lines keyed by step only still read)."""

from __future__ import annotations

import json

from harness.history import (
    ROOT_PATH,
    Claim,
    GoldenBaseline,
    History,
    ToolExecution,
    WorkflowRecord,
    golden_from_json,
    history_from_json,
    to_json,
    workflow_paths,
)


def wf(workflow_id: str, parent: str | None, created: int) -> WorkflowRecord:
    return WorkflowRecord(workflow_id, parent, "SUCCESS", "w1", 1, {}, 0, created, created + 1)


def test_paths_follow_parent_links_and_creation_order_not_id_formats() -> None:
    golden = [wf("g", None, 0), wf("g-kid-b", "g", 5), wf("g-kid-a", "g", 7),
              wf("g-grandkid", "g-kid-a", 9)]
    faulted = [wf("x", None, 100), wf("zzz", "x", 101), wf("aaa", "x", 102),
               wf("deep", "aaa", 103), wf("orphan", "nobody", 104)]
    assert workflow_paths(("g",), golden) == {
        "g": ROOT_PATH, "g-kid-b": "0.0", "g-kid-a": "0.1", "g-grandkid": "0.1.0"}
    assert workflow_paths(("x",), faulted) == {
        "x": "0", "zzz": "0.0", "aaa": "0.1", "deep": "0.1.0"}


def test_golden_baseline_round_trips_and_reads_old_lines() -> None:
    golden = GoldenBaseline(tokens_billed=30, calls=3, cost_usd=0.1, duration_s=1.0,
                            step_tokens={0: 10}, path_step_tokens={"0": {0: 10}, "0.0": {0: 20}},
                            tool_executions=2, path_effects={"0": ("publish",)})
    again = golden_from_json(json.loads(json.dumps(to_json(golden))))
    assert again == golden
    assert (again.tokens_at("0.0", 0), again.tokens_at("0.1", 0), again.tokens_at("0", 5)) == (
        20, 0, 0)
    old = golden_from_json({"tokens_billed": 10, "calls": 1, "cost_usd": 0.0, "duration_s": 1.0,
                            "step_tokens": {"0": 10}})
    assert (old.path_step_tokens, old.tool_executions, old.path_effects) == ({}, None, {})
    assert (old.tokens_at(ROOT_PATH, 0), old.tokens_at("0.0", 0)) == (10, 0)


def test_history_with_tools_and_claims_round_trips() -> None:
    history = History(
        trial_id="t", workflow_ids=("wf",), checkpointing=True,
        tools=(ToolExecution("t1", "wf", 1, 1, "w1", "search", 5, None, None),),
        claims=(Claim("wf", 1, "w1", 3),),
    )
    assert history_from_json(json.loads(json.dumps(to_json(history)))) == history


def test_the_outcome_writer_round_trips_and_old_lines_read_without_it() -> None:
    record = WorkflowRecord("wf", None, "SUCCESS", "w2", 2, {}, 1, 1, 9, outcome_epoch=1,
                            outcome_executor="w1")  # fmt: skip
    history = History(trial_id="t", workflow_ids=("wf",), checkpointing=True, workflows=(record,))
    data = json.loads(json.dumps(to_json(history)))
    assert history_from_json(data) == history
    for key in ("outcome_epoch", "outcome_executor"):
        del data["workflows"][0][key]  # a line written before the outcome kept its writer
    assert history_from_json(data).workflows[0].outcome_epoch is None
