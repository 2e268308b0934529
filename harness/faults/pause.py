"""``pause``: SIGSTOP the worker's process group until another worker took the workflow over, then
SIGCONT — the zombie-worker case.

While the worker is stopped, another worker takes the workflow over (a standby once the lease
expires); when it resumes, its late step, effect and outcome writes must be rejected (fencing
epoch). Which execution then reaches the store or the effect sink first is a race, so the fault
pins it with the provider's holds (``order``):

- ``zombie_first``: the replacement's first LLM call is held at the provider. The zombie is
  resumed once that call arrived (the superseding claim is a fact), its own held call is
  answered, and the replacement stays held until the zombie made a write or a new LLM call
  after its resume (or ``head_start_s`` passed without either: a fenced zombie does neither).
  Every late write of the zombie therefore lands after the superseding claim and before anything
  the replacement writes. Needs a ``received`` trigger (the zombie is caught mid-call).
- ``replacement_first``: the zombie is resumed only once the workflow is terminal: the
  replacement wrote its outcome and effects first, the zombie's writes all come after.
- ``timed``: stopped for ``duration_s``, whatever happened meanwhile (the order is not pinned:
  for benchmarks, not for verdicts).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from harness.faults._base import FaultTarget

ORDERS = ("zombie_first", "replacement_first", "timed")
POLL_S = 0.02


@dataclass(frozen=True)
class PauseFault:
    duration_s: float = 4.0
    """``timed`` only: how long the worker stays stopped."""
    order: str = "zombie_first"
    takeover_timeout_s: float = 30.0
    """How long the replacement may take to claim (the lease plus a poll, on a loaded machine)."""
    head_start_s: float = 3.0
    """``zombie_first``: the longest the replacement stays held while the zombie does nothing."""
    name: str = "pause"
    kills_worker: bool = False

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"unknown pause order {self.order!r}; valid: {', '.join(ORDERS)}")

    def inject(self, target: FaultTarget) -> None:
        """Returns with the zombie resumed, in the order this fault pins."""
        if self.order == "timed":
            target.worker.signal(signal.SIGSTOP)
            time.sleep(self.duration_s)
        elif self.order == "replacement_first":
            target.worker.signal(signal.SIGSTOP)
            if not target.wait_outcome(self.takeover_timeout_s + 60.0):
                raise RuntimeError(
                    f"pause: no replacement completed {target.workflow_id} while worker "
                    f"{target.worker.name} was stopped"
                )
        else:
            self._zombie_first(target)
        target.worker.signal(signal.SIGCONT)
        target.release()

    def _zombie_first(self, target: FaultTarget) -> None:
        provider = target.env.provider_client()
        wid = target.workflow_id
        calls = provider.ledger(wid)
        zombie_call, zombie = len(calls), (calls[-1].attempt if calls else None)
        held = provider.add_rule("hold", workflow_id=wid, call=zombie_call + 1)
        try:
            target.worker.signal(signal.SIGSTOP)
            try:
                claimed = provider.wait_for(wid, zombie_call + 1, "received",
                                            self.takeover_timeout_s)  # fmt: skip
            except TimeoutError as exc:
                raise RuntimeError(
                    f"pause: no worker took {wid} over within {self.takeover_timeout_s:.0f}s "
                    f"while {target.worker.name} was stopped (is there a standby?)"
                ) from exc
            if not _older(zombie, claimed.attempt):
                raise RuntimeError(
                    f"pause: call {zombie_call + 1} of {wid} came from attempt {claimed.attempt}, "
                    f"not from a replacement of attempt {zombie}; the zombie_first order needs a "
                    "'received' trigger (the zombie stopped in the middle of its call)"
                )
            resumed_ns = time.time_ns()
            target.worker.signal(signal.SIGCONT)
            target.release()
            self._await_zombie(target, zombie=claimed.attempt, after_ns=resumed_ns)
        finally:
            provider.release(held)

    def _await_zombie(self, target: FaultTarget, zombie: int | None, after_ns: int) -> None:
        """Until the zombie (any epoch below the replacement's) wrote a step record or made a
        new LLM call after ``after_ns``, or ``head_start_s`` passed."""
        provider = target.env.provider_client()
        deadline = time.monotonic() + self.head_start_s
        while time.monotonic() < deadline:
            calls = [e for e in provider.ledger(target.workflow_id)
                     if e.received_ns > after_ns and _older(e.attempt, zombie)]
            records = [r for r in target.step_records()
                       if r.recorded_ns > after_ns and _older(r.epoch, zombie)]
            if calls or records:
                return
            time.sleep(POLL_S)

    def heal(self, target: FaultTarget) -> None:
        """Resume the zombie; a call it had in flight is answered now, so it tries to record."""
        target.worker.signal(signal.SIGCONT)
        target.release()


def _older(epoch: int | None, replacement: int | None) -> bool:
    return epoch is not None and replacement is not None and epoch < replacement
