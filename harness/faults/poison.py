"""``poison``: a workflow whose every execution kills the worker running it (a poison input, an
OOM every time), until the workflow is terminal.

Every worker of the trial starts with the poison file's path (:data:`POISON_ENV`). ``inject``
writes the file, naming the trial's workflow and a logical ``step``, and lets the held call go:
from then on each execution of that workflow's tool at that step SIGKILLs its own worker's process
group as soon as the tool is announced to the provider's tool log (so every attempt is in the
history). ``inject`` returns once the first victim is dead and reaped. ``heal`` waits up to
``hold_s`` for the workflow to be terminal (the runtime gave up), then removes the file: past
that the poison is lifted, and a runtime that was still retrying may finish the workflow.

The kill is the workload's own (a real SIGKILL from inside the worker), because no harness fault
can follow every new execution to the step: the recovery policy restarts the worker, and the
poison file, not the harness, decides that the replacement dies there too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.faults._base import FaultTarget, WorkerSetup
from harness.workloads import POISON_ENV

POISON_FILE = "poison.json"


@dataclass(frozen=True)
class PoisonFault:
    step: int = 0
    """The logical step whose tool kills its worker (trigger the fault at that step's call)."""
    hold_s: float = 60.0
    """How long the poison stays once it first killed: the runtime must give up within it."""
    wait_s: float = 20.0
    """How long the first victim may take to reach the tool once its call is released."""
    name: str = "poison"
    kills_worker: bool = True

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        return WorkerSetup(env={POISON_ENV: str(trial_dir / POISON_FILE)})

    def inject(self, target: FaultTarget) -> None:
        poison = target.trial_dir / POISON_FILE
        staged = poison.with_name(poison.name + ".staged")
        staged.write_text(json.dumps({"workflow_id": target.workflow_id, "step": self.step}))
        os.replace(staged, poison)  # a tool never reads it half written
        target.release()
        if target.worker.wait(self.wait_s) is None:
            raise RuntimeError(
                f"worker {target.worker.name} did not reach step {self.step}'s tool within "
                f"{self.wait_s:.0f}s of the poison being laid (no tool at that step?)")

    def heal(self, target: FaultTarget) -> None:
        poison = target.trial_dir / POISON_FILE
        if poison.exists():
            target.wait_outcome(self.hold_s)
        poison.unlink(missing_ok=True)
        poison.with_name(poison.name + ".staged").unlink(missing_ok=True)
