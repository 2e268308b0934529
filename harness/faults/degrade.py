"""``degrade``: one Toxiproxy toxic (``latency``, ``bandwidth``, ``slicer``, ``limit_data``,
``reset_peer``, ...) on a link, for ``duration_s`` or — when ``duration_s`` is None — for the rest
of the workflow. Heal removes the toxic.

``attributes`` are the toxic's own (Toxiproxy's names and units: ``latency``/``jitter`` in ms,
``rate`` in KB/s, ``timeout`` in ms, ...), kept as a tuple of pairs so the fault stays hashable.

With ``cut``, the toxic is added while the proxy is down (disabled, then enabled again): every
live connection of the link is dropped, so whatever the workers send next goes over connections
opened anew through the toxic (with a ``latency`` toxic, a Postgres connect then takes several
late answers: SSL refusal, startup, two SCRAM exchanges). Heal removes the toxic the same way,
with nothing left in it to flush into a connection nobody reads.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import cast

from harness.faults._base import FaultTarget
from harness.net import NotFoundError, Stream


@dataclass(frozen=True)
class DegradeFault:
    toxic: str = "latency"
    link: str = "postgres"
    stream: str = "downstream"
    attributes: tuple[tuple[str, int], ...] = (("latency", 10),)
    duration_s: float | None = None
    rest_of_run_timeout_s: float = 60.0
    cut: bool = False
    """Drop the link's live connections as the toxic goes in (and as it comes out): see the
    module doc."""
    name: str = "degrade"
    kills_worker: bool = False

    @property
    def toxic_name(self) -> str:
        return f"degrade_{self.toxic}_{self.stream}"

    def inject(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        with toxiproxy.disabled(proxy) if self.cut else contextlib.nullcontext():
            toxiproxy.add_toxic(proxy, self.toxic, stream=cast(Stream, self.stream),
                                name=self.toxic_name, **dict(self.attributes))  # fmt: skip
        target.release()
        if self.duration_s is None:
            target.wait_outcome(self.rest_of_run_timeout_s)
        else:
            time.sleep(self.duration_s)

    def heal(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        with (toxiproxy.disabled(proxy) if self.cut else contextlib.nullcontext(),
              contextlib.suppress(NotFoundError)):
            toxiproxy.remove_toxic(proxy, self.toxic_name)
