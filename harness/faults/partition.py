"""``partition``: a link (``worker→postgres`` or ``worker→provider``) stops carrying data for
``duration_s``, through the Toxiproxy API.

Modes, as Toxiproxy offers them:
- ``down``: the proxy is disabled — its listener closes and live connections are dropped, so
  clients see resets and refused connects;
- ``timeout``: a ``timeout`` toxic (timeout 0) on both streams — connections stay open but no
  byte passes, the black hole that only client timeouts notice; removing it closes them.

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


@dataclass(frozen=True)
class PartitionFault:
    link: str = "postgres"
    mode: str = "down"
    duration_s: float = 1.5
    llm_timeout_s: float = 1.0
    """Per-request LLM timeout of the trial's workers: a black-holed call must time out."""
    hold_past_heal_s: float | None = None
    name: str = "partition"
    kills_worker: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("down", "timeout"):
            raise ValueError(f"unknown partition mode {self.mode!r}; valid: down, timeout")

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        return WorkerSetup(env={"DURABENCH_LLM_TIMEOUT_S": str(self.llm_timeout_s)})

    def inject(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        if self.mode == "down":
            toxiproxy.set_enabled(proxy, False)
        else:
            for stream in STREAMS:
                toxiproxy.add_toxic(proxy, "timeout", stream=stream, name=f"partition_{stream}",
                                    timeout=0)  # fmt: skip
        if self.hold_past_heal_s is None:
            target.release()
            time.sleep(self.duration_s)
            return
        time.sleep(self.duration_s)
        self.heal(target)
        time.sleep(self.hold_past_heal_s)
        target.release()

    def heal(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        toxiproxy.set_enabled(proxy, True)
        for stream in STREAMS:
            with contextlib.suppress(NotFoundError):
                toxiproxy.remove_toxic(proxy, f"partition_{stream}")
