"""Workflows through the client API: idempotent start, cancel, child workflows."""

from __future__ import annotations

import threading

import pytest
from rt_support import RuntimeFactory, running_worker, wait_for

from reference_runtime import (
    ReferenceRuntimeError,
    WorkflowCancelledError,
    WorkflowConflictError,
    WorkflowHandle,
)
from tests.reference_runtime import apps


def test_concurrent_starts_of_one_id_run_the_body_once(make_runtime: RuntimeFactory) -> None:
    key = "same-id"
    client = make_runtime("client")
    barrier = threading.Barrier(8)
    handles: list[WorkflowHandle] = []

    def start() -> None:
        barrier.wait(timeout=10)
        handles.append(client.start_workflow(apps.body_counted, key, workflow_id=key))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    with running_worker(make_runtime("worker")):
        results = {h.result(timeout=10) for h in handles}
        # A later start of the same id returns the finished execution, not a new one.
        again = client.start_workflow(apps.body_counted, key, workflow_id=key)
        assert again.result(timeout=1) == 1
    assert len(handles) == 8 and {h.workflow_id for h in handles} == {key}
    assert results == {1}
    assert apps.COUNTS[f"body:{key}"] == 1
    assert [w.workflow_id for w in client.list_workflows()] == [key]


def test_an_id_of_another_workflow_is_a_conflict(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    rt.start_workflow(apps.branching, "x", workflow_id="taken")
    with pytest.raises(WorkflowConflictError, match="'branching'"):
        rt.start_workflow(apps.bad_output, workflow_id="taken")


@pytest.mark.parametrize("bad_id", [123, b"bytes", 1.5])
def test_non_str_workflow_id_is_a_type_error(make_runtime: RuntimeFactory, bad_id: object) -> None:
    rt = make_runtime()
    with pytest.raises(TypeError, match=type(bad_id).__name__):
        rt.start_workflow(apps.branching, "x", workflow_id=bad_id)  # type: ignore[arg-type]
    assert rt.list_workflows() == []


def test_cancel_stops_the_execution_at_its_next_write(make_runtime: RuntimeFactory) -> None:
    key = "cancel-1"
    with running_worker(make_runtime()) as rt:
        handle = rt.start_workflow(apps.cancellable, key, workflow_id=key)
        wait_for(lambda: apps.COUNTS[f"blocked:{key}"] == 1, 10, "the blocking step to start")
        rt.cancel(key)
        apps.GATES[key].set()
        with pytest.raises(WorkflowCancelledError):
            handle.result(timeout=10)
        wait_for(lambda: not rt._worker._held, 10, "the execution to stop")
        info = rt.get_workflow(key)
        steps = rt.list_steps(key)
    assert info is not None and info.status == "CANCELLED"
    assert [s.name for s in steps] == ["counted"]  # the blocked step's record was refused
    assert apps.COUNTS[f"after:{key}"] == 0
    with pytest.raises(ReferenceRuntimeError, match="no such workflow"):
        make_runtime().cancel("missing")


def test_children_run_on_one_slot_and_replay_returns_the_same_children(
    make_runtime: RuntimeFactory,
) -> None:
    with running_worker(make_runtime(max_concurrency=1)) as rt:
        handle = rt.start_workflow(apps.parent, 3, workflow_id="p")
        result = handle.result(timeout=30)
        children = rt.list_workflows(parent_id="p")
        steps = rt.list_steps("p")
    assert result == [42, 43, 44, "child failed: StepFailedError"]
    assert [c.workflow_id for c in children] == ["p:child:0", "p:child:1", "p:child:2", "p:child:6"]
    assert [c.status for c in children] == ["SUCCESS"] * 3 + ["ERROR"]
    assert [s.name for s in steps] == [
        "start_child:child_work",
        "start_child:child_work",
        "start_child:child_work",
        "result:p:child:0",
        "result:p:child:1",
        "result:p:child:2",
        "start_child:child_fails",
        "result:p:child:6",
    ]
    assert steps[3].output == {"status": "SUCCESS", "output": 42, "error": None}
