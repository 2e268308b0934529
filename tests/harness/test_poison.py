"""The poison fault: the workload's tool SIGKILLs its own process group at the poisoned
(workflow, step) and nowhere else, in a real process; the fault lays the poison, releases the held
call, waits for the first victim, and lifts the poison on heal once the workflow is terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.faults import FaultTarget, PoisonFault
from harness.faults.poison import POISON_FILE
from harness.trial import TrialSpec
from harness.workloads import POISON_ENV

RUN_TOOL_STEP = """
import sys
from harness.workloads._calls import _die_if_poisoned, attribution
_die_if_poisoned(attribution(sys.argv[1], int(sys.argv[2]), 1, "w1"))
print("alive")
"""


def _run(poison: Path | None, workflow_id: str, step: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != POISON_ENV}
    if poison is not None:
        env[POISON_ENV] = str(poison)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.run([sys.executable, "-c", RUN_TOOL_STEP, workflow_id, str(step)],
                          env=env, capture_output=True, text=True, timeout=60,
                          start_new_session=True)  # its own process group, as a worker's


@pytest.mark.parametrize(("workflow_id", "step", "dies"), [
    ("wf-1", 1, True),    # the poisoned workflow at its step: SIGKILL
    ("wf-1", 2, False),   # another step of it
    ("wf-2", 1, False),   # another workflow (the bystander)
])
def test_the_tool_kills_its_worker_at_the_poisoned_step_only(
    tmp_path: Path, workflow_id: str, step: int, dies: bool
) -> None:
    poison = tmp_path / POISON_FILE
    poison.write_text(json.dumps({"workflow_id": "wf-1", "step": 1}))
    done = _run(poison, workflow_id, step)
    if dies:
        assert done.returncode == -signal.SIGKILL, done
    else:
        assert (done.returncode, done.stdout.strip()) == (0, "alive"), done


def test_no_poison_file_no_kill(tmp_path: Path) -> None:
    assert _run(tmp_path / POISON_FILE, "wf-1", 1).returncode == 0
    assert _run(None, "wf-1", 1).returncode == 0


@dataclass
class _Worker:
    """A worker handle whose process dies (or not) once the held call is released."""

    dies: bool
    released: list[bool] = field(default_factory=list)
    name: str = "w1.1"
    executor_id: str = "w1"

    def wait(self, timeout_s: float) -> int | None:
        return -9 if self.dies and self.released else None


def _target(tmp_path: Path, worker: _Worker, terminal: list[float]) -> FaultTarget:
    def wait_outcome(timeout_s: float) -> bool:
        terminal.append(timeout_s)
        return True

    w: Any = worker
    return FaultTarget(env=None, worker=w, workflow_id="wf-1",  # type: ignore[arg-type]
                       links=None, trial_dir=tmp_path,  # type: ignore[arg-type]
                       release=lambda: worker.released.append(True), wait_outcome=wait_outcome)


def test_inject_lays_the_poison_and_heal_lifts_it_once_the_workflow_is_terminal(
    tmp_path: Path,
) -> None:
    fault = PoisonFault(step=3, hold_s=7.0)
    assert fault.worker_setup(tmp_path).env == {POISON_ENV: str(tmp_path / POISON_FILE)}
    waited: list[float] = []
    worker = _Worker(dies=True)
    target = _target(tmp_path, worker, waited)
    fault.inject(target)
    assert worker.released, "the held call was let go, so the victim reaches the tool"
    assert json.loads((tmp_path / POISON_FILE).read_text()) == {"workflow_id": "wf-1", "step": 3}
    fault.heal(target)
    assert waited == [7.0], "heal waits for the workflow's outcome before lifting the poison"
    assert not (tmp_path / POISON_FILE).exists()


def test_a_victim_that_never_reaches_the_step_is_an_error(tmp_path: Path) -> None:
    target = _target(tmp_path, _Worker(dies=False), [])
    with pytest.raises(RuntimeError, match="did not reach step 1's tool"):
        PoisonFault(step=1, wait_s=0.1).inject(target)


def test_a_bystander_trial_has_its_own_id_and_golden_run() -> None:
    spec = TrialSpec("poison", "reference", fault=PoisonFault())
    with_bystander = TrialSpec("poison", "reference", fault=PoisonFault(), bystander=True)
    assert with_bystander.trial_id.endswith("-bystander-s0")
    assert spec.trial_id != with_bystander.trial_id
    assert with_bystander.golden().bystander
    assert with_bystander.golden_key != spec.golden_key


def test_a_bystander_behind_the_workflow_is_another_trial_and_golden_run() -> None:
    after = TrialSpec("queue_limit", "dbos", fault=PoisonFault(), bystander=True)
    behind = TrialSpec("queue_limit", "dbos", fault=PoisonFault(), bystander=True, behind=True)
    assert behind.trial_id.endswith("-bystander-behind-s0")
    assert behind.golden().behind and behind.golden_key != after.golden_key
    with pytest.raises(ValueError, match="needs bystander=True"):
        TrialSpec("queue_limit", "dbos", fault=PoisonFault(), behind=True)
