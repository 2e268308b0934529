"""``partition``: a link (``worker→postgres`` or ``worker→provider``) stops carrying data for
``duration_s``, through the Toxiproxy API.

Modes, as Toxiproxy offers them:
- ``down``: the proxy is disabled — its listener closes and live connections are dropped, so
  clients see resets and refused connects;
- ``timeout``: a ``timeout`` toxic (timeout 0) on both streams — connections stay open but no
  byte passes, the black hole that only client timeouts notice; removing it closes them;
- ``stall``: every answer is held (a ``latency`` toxic of ``HOLD_MS`` on the downstream) — each
  query reaches the server and runs, but its sender hears nothing, so every thread of the worker
  that talks to the server is left waiting on its one query; heal lets all the answers through
  at once, so the worker's threads wake together and each next step follows its own timer
  (a worker's claim loop, polling every ``poll_s``, goes before its heartbeat, every
  ``heartbeat_s``, when ``poll_s`` is the shorter -- unless a thread was still opening its
  connection when the answers stopped: it goes on as soon as it is connected).

A call held by the trigger is released once the link is cut, so the provider bills an answer the
worker never gets — or, with ``hold_past_heal_s``, only that long after the link is back: the
worker's execution is then still waiting on its LLM call while the rest of the worker (its claim
loop, its heartbeat) reconnects, so whatever the worker does on reconnecting happens before the
execution's next write. Heal re-enables the proxy and removes the toxics.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from harness.faults._base import FaultTarget, WorkerSetup
from harness.net import NotFoundError, Stream

STREAMS: tuple[Stream, ...] = ("upstream", "downstream")
MODES = ("down", "timeout", "stall")
STALL = "partition_stall"
HOLD_MS = 600_000
"""A latency toxic this long is a hold: removing it lets everything it kept through at once."""


@dataclass(frozen=True)
class PartitionFault:
    link: str = "postgres"
    mode: str = "down"
    duration_s: float = 1.5
    llm_timeout_s: float = 1.0
    """Per-request LLM timeout of the trial's workers: a black-holed call must time out."""
    hold_past_heal_s: float | None = None
    until_takeover_s: float | None = None
    """When set, the link stays cut past ``duration_s`` until another execution claimed the
    workflow (the store shows a newer epoch), for at most this long (then an error), and that
    execution's first LLM call is held at the provider until the cut-off execution had its chance
    to write after the heal (``late_write_s``): the order "a standby took over during the
    outage, the cut-off worker writes while the workflow is still the standby's" pinned (with
    ``Recovery(own_links=True)`` and ``hold_past_heal_s``)."""
    late_write_s: float = 3.0
    """With ``until_takeover_s`` and ``hold_past_heal_s``: how long the trial waits, after the
    cut-off execution's call is answered, for its late step write."""
    name: str = "partition"
    kills_worker: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown partition mode {self.mode!r}; valid: {', '.join(MODES)}")

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        return WorkerSetup(env={"DURABENCH_LLM_TIMEOUT_S": str(self.llm_timeout_s)})

    def inject(self, target: FaultTarget) -> None:
        if self.until_takeover_s is None:
            self._cut(target, 0)
            return
        # The replacement's first LLM call waits until the cut-off execution had its chance to
        # write, so that write meets a PENDING workflow owned by the replacement.
        provider = target.env.provider_client()
        held = provider.add_rule("hold", workflow_id=target.workflow_id,
                                 call=len(provider.ledger(target.workflow_id)) + 1)  # fmt: skip
        try:
            self._cut(target, max((w.epoch for w in target.workflow_records()
                                   if w.workflow_id == target.workflow_id), default=0))
        finally:
            provider.release(held)

    def _cut(self, target: FaultTarget, owner: int) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        if self.mode == "down":
            toxiproxy.set_enabled(proxy, False)
        elif self.mode == "stall":
            toxiproxy.add_toxic(proxy, "latency", stream="downstream", name=STALL,
                                latency=HOLD_MS)  # fmt: skip
        else:
            for stream in STREAMS:
                toxiproxy.add_toxic(proxy, "timeout", stream=stream, name=f"partition_{stream}",
                                    timeout=0)  # fmt: skip
        if self.hold_past_heal_s is None:
            target.release()
            time.sleep(self.duration_s)
            self._await_takeover(target, owner)
            return
        time.sleep(self.duration_s)
        self._await_takeover(target, owner)
        self.heal(target)
        time.sleep(self.hold_past_heal_s)
        released_ns = time.time_ns()
        target.release()
        if self.until_takeover_s is not None:
            self._await_late_write(target, owner, released_ns)

    def _await_takeover(self, target: FaultTarget, owner: int) -> None:
        if self.until_takeover_s is None:
            return
        deadline = time.monotonic() + self.until_takeover_s
        while time.monotonic() < deadline:
            if any(w.workflow_id == target.workflow_id and w.epoch > owner
                   for w in target.workflow_records()):
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"partition: nobody took {target.workflow_id} over (epoch {owner}) within "
            f"{self.duration_s + self.until_takeover_s:.0f}s of the {self.link} link being cut "
            "(is there a standby on links of its own, Recovery(own_links=True)?)")

    def _await_late_write(self, target: FaultTarget, owner: int, after_ns: int) -> None:
        """Until the cut-off execution, its call answered, wrote a step record (accepted: a
        breach the checkers will see) or ``late_write_s`` passed (rejected, as it must be):
        the trial must not end before the superseded execution had its chance to write."""
        deadline = time.monotonic() + self.late_write_s
        while time.monotonic() < deadline:
            if any(r.epoch == owner and r.recorded_ns > after_ns for r in target.step_records()):
                return
            time.sleep(0.02)

    def heal(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        toxiproxy.set_enabled(proxy, True)
        for name in (STALL, *(f"partition_{stream}" for stream in STREAMS)):
            with contextlib.suppress(NotFoundError):
                toxiproxy.remove_toxic(proxy, name)
