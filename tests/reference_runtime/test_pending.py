"""Resumable steps (``reference_runtime._pending``) with real Postgres and real SIGKILLs: the
step's write-ahead reference survives its worker, the successor resumes the same external work,
and a reference the outside world dropped makes the step start again."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from rt_support import RuntimeFactory, WorkerProcess, read_log, wait_for

from reference_runtime import (
    FencedError,
    PendingStep,
    ReferenceRuntimeError,
    Runtime,
    WorkflowHandle,
    pending_ref,
    record_pending_ref,
)
from tests.reference_runtime import apps

Spawn = Callable[..., WorkerProcess]
LONG_LEASE = ["--lease", "30", "--heartbeat", "1", "--poll", "0.1"]


def _labels(path: Path) -> list[tuple[str, str, str]]:
    return [(e[0], e[1], e[2]) for e in read_log(path)]


def _kill_while_waiting(spawn_worker: Spawn, make_runtime: RuntimeFactory, path: Path,
                        wid: str) -> tuple[Runtime, WorkflowHandle]:
    client = make_runtime("client")
    first = spawn_worker("w-first", *LONG_LEASE)
    handle = client.start_workflow(apps.resumable_job, str(path), workflow_id=wid)
    wait_for(lambda: ("started-job1", "w-first", "1") in _labels(path), 15, "the job to start")
    [pending] = client.list_pending(wid)
    assert (pending.seq, pending.name, pending.ref, pending.epoch) == (1, "external_job",
                                                                        "job1", 1)
    first.signal(signal.SIGKILL)
    first.wait(10)
    return client, handle


def test_a_successor_resumes_the_recorded_external_work(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    client, handle = _kill_while_waiting(spawn_worker, make_runtime, tmp_path, "resumed")
    spawn_worker("w-second", *LONG_LEASE)
    wait_for(lambda: ("resumed-job1", "w-second", "2") in _labels(tmp_path), 15, "the resume")
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "job1", "s3"]
    assert [label for label, _, _ in _labels(tmp_path)] == ["s1", "started-job1",
                                                            "resumed-job1", "s3"]
    steps = client.list_steps("resumed")
    assert [(s.seq, s.output, s.epoch) for s in steps] == [(0, "s1", 1), (1, "job1", 2),
                                                            (2, "s3", 2)]


def test_a_dropped_reference_starts_the_work_again_and_records_the_new_one(
    spawn_worker: Spawn, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    client, handle = _kill_while_waiting(spawn_worker, make_runtime, tmp_path, "dropped")
    (tmp_path / "jobs" / "job1").unlink()  # the outside world forgot it
    spawn_worker("w-second", *LONG_LEASE)
    wait_for(lambda: ("started-job2", "w-second", "2") in _labels(tmp_path), 15, "a new job")
    (tmp_path / "go").touch()
    assert handle.result(timeout=15) == ["s1", "job2", "s3"]
    [pending] = client.list_pending("dropped")
    assert (pending.ref, pending.epoch, pending.executor_id) == ("job2", 2, "w-second")


def test_a_superseded_epoch_cannot_record_a_pending_reference(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime("claimer")
    rt.start_workflow(apps.resumable_job, str(tmp_path), workflow_id="fenced")
    claim = dict(executor_id="claimer", names=["resumable_job"], held=[], limit=5, lease_s=30.0,
                 max_recovery_attempts=10, detect=False, locked=True)  # fmt: skip
    rt.store.claim(**claim)
    rt.store.claim(**claim)  # epoch 2: a restart's claim (holding its lock)
    rt.store.pending.record(PendingStep("fenced", 1, "external_job", "job2", "claimer", 2, 0))
    with pytest.raises(FencedError, match="epoch 1 may no longer record the pending"):
        rt.store.pending.record(PendingStep("fenced", 1, "external_job", "job1", "old", 1, 0))
    assert [p.ref for p in rt.list_pending("fenced")] == ["job2"]


def test_pending_calls_outside_a_resumable_step_say_what_to_do() -> None:
    with pytest.raises(ReferenceRuntimeError, match="resumable=True"):
        pending_ref()
    with pytest.raises(ReferenceRuntimeError, match="resumable=True"):
        record_pending_ref("x")
