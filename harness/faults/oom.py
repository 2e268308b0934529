"""``oom``: the worker runs in a memory cgroup with a limit and is made to allocate past it; the
kernel's OOM killer acts.

The allocation comes from the workload itself (its tool turns memory-hungry when the fault arms
it), as a leaky agent would. ``inject`` returns once the worker is dead and the cgroup's own
counter (``oom_kill`` in ``memory.events`` / ``memory.oom_control``) shows a kernel OOM kill; an
exit without it is an error, never inferred from exit code 137.

The switch is the trial's ``oom.arm`` file, which the first worker to run the tool consumes;
with ``per_worker`` (the soak, where several workers share a trial) each worker has its own,
``oom-<executor>.arm``, so the arming reaches the targeted worker only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.faults._base import FaultNotLanded, FaultTarget, FaultUnavailable, WorkerSetup
from harness.workloads import OOM_ARM_ENV

ARM_FILE = "oom.arm"
PER_WORKER_ARM_FILE = "oom-{executor}.arm"


@dataclass(frozen=True)
class OomFault:
    limit_mb: int = 256
    hog_mb: int = 768
    wait_s: float = 20.0
    name: str = "oom"
    kills_worker: bool = True
    per_worker: bool = False

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        if self.per_worker:
            return WorkerSetup(executor_env={OOM_ARM_ENV: str(trial_dir / PER_WORKER_ARM_FILE)},
                               memory_limit_mb=self.limit_mb)  # fmt: skip
        return WorkerSetup(env={OOM_ARM_ENV: str(trial_dir / ARM_FILE)},
                           memory_limit_mb=self.limit_mb)  # fmt: skip

    def arm_file(self, target: FaultTarget) -> Path:
        """The switch that makes the targeted worker's tool allocate."""
        if self.per_worker:
            name = PER_WORKER_ARM_FILE.replace("{executor}", target.worker.executor_id)
            return target.trial_dir / name
        return target.trial_dir / ARM_FILE

    def inject(self, target: FaultTarget) -> None:
        before = target.worker.oom_kills()
        if before is None:
            raise FaultUnavailable(f"worker {target.worker.name} runs without a memory limit")
        arm = self.arm_file(target)
        # Into place in one rename: a tool polling the arm must never read it empty (truncated,
        # not yet written), take it as 0 MiB and consume it without allocating.
        staged = arm.with_name(arm.name + ".staged")
        staged.write_text(str(self.hog_mb))
        os.replace(staged, arm)
        code = target.worker.wait(self.wait_s)
        if _disarm(arm):  # no tool took the arm: the fault never reached the workload
            if code is None:
                raise FaultNotLanded(
                    f"worker {target.worker.name} ran no tool within {self.wait_s:.0f}s of the "
                    "oom fault being armed (it had no workflow at a tool): disarmed, the worker "
                    "went on")
            raise FaultNotLanded(
                f"worker {target.worker.name} exited (code {code}) before any tool took the oom "
                "arm -- another fault or its own start failing, e.g. during a Postgres outage: "
                "disarmed, its replacement runs unarmed")
        if code is None:  # its tool took the arm just now: it is allocating
            code = target.worker.wait(self.wait_s)
        if code is None:
            raise RuntimeError(
                f"worker {target.worker.name} still alive {self.wait_s:.0f}s after its tool took "
                "the oom arm: the allocation did not kill it (is the memory limit enforced?)")
        if (target.worker.oom_kills() or 0) <= before:
            raise RuntimeError(
                f"worker {target.worker.name} exited with code {code}, but no kernel OOM kill "
                "was counted for it"
            )

    def heal(self, target: FaultTarget) -> None:
        arm = self.arm_file(target)
        arm.unlink(missing_ok=True)
        arm.with_name(arm.name + ".staged").unlink(missing_ok=True)


def _disarm(arm: Path) -> bool:
    """Remove the arm; True when it was still there (no tool took it). The tool reads, then
    removes it, and allocates only when its own removal succeeded: exactly one side wins."""
    try:
        arm.unlink()
    except FileNotFoundError:
        return False
    return True
