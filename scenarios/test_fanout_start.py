"""fan-out start: the orchestrator's worker dies between starting a child workflow and recording
that it did.

The ``multi_agent`` orchestrator plans (LLM call 1), then starts three research sub-agents as
child workflows. The fault (``ack_loss`` in ``kill`` mode, ``write="child"``) delays every answer
on the ``worker→postgres`` link, waits until the first child's row is committed in the store —
its acknowledgement still in flight, so the parent has not recorded the start — and SIGKILLs the
worker. The restarted worker re-runs the orchestrator from its last record: it must find the child
it already started rather than start a second one (the child's id must be deterministic in the
parent's position), so the trial ends with exactly as many children as the golden run, each
completed once.
"""

from __future__ import annotations

import pytest

from harness import FANOUT_PARAMS, AckLossFault, TrialRunner, Trigger, fanout_trial, store_link

pytestmark = [pytest.mark.xdist_group("fanout_start"), pytest.mark.durabench_case_s(54)]


def test_parent_killed_after_starting_a_child(trials: TrialRunner, sut: str, seed: int) -> None:
    fault = AckLossFault(mode="kill", write="child", link=store_link(sut))
    spec = fanout_trial("fanout_start", sut, fault,
                        Trigger("received", call=1), "killed_at_child_start", crash_step=1,
                        seed=seed)  # fmt: skip
    result = trials.run(spec)
    trials.require_valid(result)
    history = result.history
    root = history.workflow_ids[0]
    children = [w for w in history.workflows if w.parent_id == root]
    agents = FANOUT_PARAMS["agents"]
    assert len(children) == agents, (
        f"the restarted orchestrator started another child: {len(children)} children for "
        f"{agents} sub-agents: {sorted(w.workflow_id for w in children)}"
    )
    assert all(w.status == "SUCCESS" for w in children), [(w.workflow_id, w.status)
                                                          for w in children]  # fmt: skip
    died = [e for e in history.events_of("worker_exited") if e.detail.get("stopped_by") == "died"]
    assert died, "the orchestrator's worker should have been killed"
