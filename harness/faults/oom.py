"""``oom``: the worker runs in a memory cgroup with a limit and is made to allocate past it; the
kernel's OOM killer acts.

The allocation comes from the workload itself (its tool turns memory-hungry when the fault arms
it), as a leaky agent would. ``inject`` returns once the worker is dead and the cgroup's own
counter (``oom_kill`` in ``memory.events`` / ``memory.oom_control``) shows a kernel OOM kill; an
exit without it is an error, never inferred from exit code 137.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.faults._base import FaultTarget, FaultUnavailable, WorkerSetup
from harness.workloads import OOM_ARM_ENV

ARM_FILE = "oom.arm"


@dataclass(frozen=True)
class OomFault:
    limit_mb: int = 256
    hog_mb: int = 768
    wait_s: float = 20.0
    name: str = "oom"
    kills_worker: bool = True

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        return WorkerSetup(env={OOM_ARM_ENV: str(trial_dir / ARM_FILE)},
                           memory_limit_mb=self.limit_mb)  # fmt: skip

    def inject(self, target: FaultTarget) -> None:
        before = target.worker.oom_kills()
        if before is None:
            raise FaultUnavailable(f"worker {target.worker.name} runs without a memory limit")
        (target.trial_dir / ARM_FILE).write_text(str(self.hog_mb))
        code = target.worker.wait(self.wait_s)
        if code is None:
            raise RuntimeError(
                f"worker {target.worker.name} still alive {self.wait_s:.0f}s after the oom fault "
                "was armed: the workload never reached its tool"
            )
        if (target.worker.oom_kills() or 0) <= before:
            raise RuntimeError(
                f"worker {target.worker.name} exited with code {code}, but no kernel OOM kill "
                "was counted for it"
            )

    def heal(self, target: FaultTarget) -> None:
        (target.trial_dir / ARM_FILE).unlink(missing_ok=True)
