"""Steps: recorded after they return, replayed without running, name-checked, JSON-only, retried."""

from __future__ import annotations

import itertools

import pytest
from rt_support import RuntimeFactory, running_worker, sql, wait_for

from reference_runtime import WorkflowFailedError
from tests.reference_runtime import apps


def _rerun(pg_url: str, schema: str, workflow_id: str) -> None:
    """Put a finished workflow back to PENDING and unowned, as if its outcome had not been
    written: the next claim replays it against its recorded steps."""
    sql(
        pg_url,
        f"UPDATE {schema}.workflows SET status = 'PENDING', output = NULL, error = NULL, "
        "executor_id = NULL, lease_expires_at = NULL WHERE workflow_id = %s",
        (workflow_id,),
    )


def test_step_recorded_after_it_returns_and_replayed_without_running(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    key = "replay-1"
    with running_worker(make_runtime()) as rt:
        handle = rt.start_workflow(apps.replayable, key, workflow_id=key)
        steps = wait_for(
            lambda: len(rt.list_steps(key)) == 2 and rt.list_steps(key),
            10,
            "two step records while the third step runs",
        )
        # Each record is committed on its own while the workflow is still running.
        assert handle.status() == "PENDING"
        assert [(s.seq, s.name) for s in steps] == [(0, "counted"), (1, "failing")]
        assert steps[0].output == {"key": key, "value": 42} and steps[0].error is None
        assert steps[1].error == {"type": "ValueError", "message": f"boom {key}"}
        assert steps[0].executor_id == "test-worker" and steps[0].epoch == 1
        assert steps[0].recorded_ns <= steps[1].recorded_ns
        apps.GATES[key].set()
        first = handle.result(timeout=10)
        assert first == [{"key": key, "value": 42}, "ValueError", "opened"]

        _rerun(pg_url, schema, key)
        rt._worker.wake()
        wait_for(lambda: handle.status() == "SUCCESS", 10, "the replayed execution to finish")
        assert handle.result(timeout=1) == first
    assert apps.COUNTS[f"counted:{key}"] == 1
    assert apps.COUNTS[f"failing:{key}"] == 1
    assert apps.COUNTS[f"blocked:{key}"] == 1
    (epoch,) = sql(pg_url, f"SELECT epoch FROM {schema}.workflows WHERE workflow_id = %s", (key,))[
        0
    ]
    assert epoch == 2


def test_replay_meeting_another_step_name_is_non_determinism(
    make_runtime: RuntimeFactory, pg_url: str, schema: str
) -> None:
    key = "nondet-1"
    with running_worker(make_runtime()) as rt:
        assert rt.start_workflow(apps.branching, key, workflow_id=key).result(timeout=10) == "a"
        apps.FLAGS[key] = True
        _rerun(pg_url, schema, key)
        rt._worker.wake()
        handle = rt.retrieve(key)
        wait_for(lambda: handle.status() == "ERROR", 10, "the replay to fail")
        with pytest.raises(WorkflowFailedError) as failed:
            handle.result(timeout=1)
    error = failed.value.error
    assert error["type"] == "NonDeterminismError"
    for part in ("'step_a'", "'step_b'", "position 0", repr(key)):
        assert part in error["message"]


def test_non_json_step_output_fails_at_record_time(make_runtime: RuntimeFactory) -> None:
    with running_worker(make_runtime()) as rt:
        handle = rt.start_workflow(apps.bad_output, workflow_id="bad-output")
        with pytest.raises(WorkflowFailedError) as failed:
            handle.result(timeout=10)
        assert rt.list_steps("bad-output") == []
    assert failed.value.error["type"] == "SerializationError"
    assert "'unserialisable'" in failed.value.error["message"]
    assert "builtins.object" in failed.value.error["message"]


def test_step_outside_a_workflow_just_runs(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    before = apps.COUNTS["counted:outside"]
    assert apps.counted("outside") == {"key": "outside", "value": 42}
    assert apps.COUNTS["counted:outside"] == before + 1
    assert rt.list_workflows() == []


def test_step_retries_back_off_and_the_last_error_is_recorded(
    make_runtime: RuntimeFactory,
) -> None:
    key = "retry-1"
    with running_worker(make_runtime()) as rt:
        result = rt.start_workflow(apps.retrying, key, 2, workflow_id=key).result(timeout=20)
        steps = rt.list_steps(key)
    assert result == [3, "ValueError"]
    times = apps.ATTEMPT_TIMES[key]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3
    assert gaps[0] >= 0.05 * 0.9 and gaps[1] >= 0.1 * 0.9 and gaps[1] > gaps[0]
    assert len(apps.ATTEMPT_TIMES[f"{key}-always"]) == 2  # 1 + retries=1
    assert [(s.name, s.output, s.error and s.error["type"]) for s in steps] == [
        ("flaky", 3, None),
        ("always_fails", None, "ValueError"),
    ]
