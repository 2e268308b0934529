"""The oom fault's arm: exactly one of the tool and the fault's disarm takes it, and an arm that no
tool took within the window is a fault that did not land (undone), never an error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.faults import FaultNotLanded, FaultTarget, OomFault
from harness.faults.oom import _disarm
from harness.workloads import OOM_ARM_ENV, run_tool


def test_a_tool_that_took_the_arm_leaves_nothing_to_disarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = tmp_path / "oom.arm"
    arm.write_text("1")  # 1 MiB: the tool allocates it and goes on
    monkeypatch.setenv(OOM_ARM_ENV, str(arm))
    run_tool("search", {"q": "x"}, 0.0, 5)
    assert not arm.exists(), "the tool consumed the arm"
    assert _disarm(arm) is False, "nothing left: the fault must wait for the allocation's kill"


def test_a_disarmed_arm_is_not_taken_by_a_later_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arm = tmp_path / "oom.arm"
    arm.write_text("1")
    assert _disarm(arm) is True
    arm.write_text("not a number")  # were it read, the tool would ignore it; it must not exist
    arm.unlink()
    monkeypatch.setenv(OOM_ARM_ENV, str(arm))
    assert run_tool("search", {"q": "x"}, 0.0, 5)


@dataclass
class _IdleWorker:
    """A worker handle whose process stays alive and runs no tool (an idle soak worker)."""

    name: str = "soak-w1.3"
    executor_id: str = "soak-w1"

    def oom_kills(self) -> int:
        return 0

    def wait(self, timeout_s: float) -> int | None:
        return None


def test_an_arm_no_tool_took_is_a_fault_that_did_not_land_and_is_undone(tmp_path: Path) -> None:
    fault = OomFault(per_worker=True, wait_s=0.1)
    worker: Any = _IdleWorker()
    target = FaultTarget(env=None, worker=worker, workflow_id="w",  # type: ignore[arg-type]
                         links=None, trial_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(FaultNotLanded, match=r"ran no tool .* disarmed"):
        fault.inject(target)
    assert not fault.arm_file(target).exists(), "the arm is gone: no later tool allocates"


def test_an_arm_taken_without_a_kill_is_an_error(tmp_path: Path) -> None:
    fault = OomFault(per_worker=True, wait_s=0.1)

    class TakesTheArm(_IdleWorker):
        def wait(self, timeout_s: float) -> int | None:
            fault.arm_file(target).unlink(missing_ok=True)  # its tool took it, and survived
            return None

    target = FaultTarget(env=None, worker=TakesTheArm(), workflow_id="w",  # type: ignore[arg-type]
                         links=None, trial_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="took the oom arm") as caught:
        fault.inject(target)
    assert not isinstance(caught.value, FaultNotLanded)


def test_a_worker_that_died_before_any_tool_took_the_arm_is_a_fault_that_did_not_land(
    tmp_path: Path,
) -> None:
    """A worker that exits for another reason (its start failed during a Postgres outage: code 1)
    while the arm is untouched: the fault never reached the workload; its replacement must not
    find the arm."""
    fault = OomFault(per_worker=True, wait_s=0.1)

    class DiesOfSomethingElse(_IdleWorker):
        def wait(self, timeout_s: float) -> int | None:
            return 1

    target = FaultTarget(env=None, worker=DiesOfSomethingElse(),  # type: ignore[arg-type]
                         workflow_id="w", links=None, trial_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(FaultNotLanded, match=r"exited \(code 1\) before any tool took"):
        fault.inject(target)
    assert not fault.arm_file(target).exists()


def test_a_worker_that_took_the_arm_and_exited_without_an_oom_kill_is_an_error(
    tmp_path: Path,
) -> None:
    fault = OomFault(per_worker=True, wait_s=0.1)

    class TakesTheArmAndExits(_IdleWorker):
        def wait(self, timeout_s: float) -> int | None:
            fault.arm_file(target).unlink(missing_ok=True)
            return 1

    target = FaultTarget(env=None, worker=TakesTheArmAndExits(),  # type: ignore[arg-type]
                         workflow_id="w", links=None, trial_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no kernel OOM kill") as caught:
        fault.inject(target)
    assert not isinstance(caught.value, FaultNotLanded)
