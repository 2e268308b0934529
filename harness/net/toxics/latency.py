"""latency: every chunk is delayed by ``latency`` ms +/- ``jitter`` ms, counted from its arrival."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ._base import Chunk, ToxicStub


@dataclass(frozen=True)
class Latency:
    latency: int = 0
    jitter: int = 0

    def _delay_s(self) -> float:
        delay = self.latency
        if self.jitter > 0:
            delay += random.randrange(-self.jitter, self.jitter)
        return delay / 1000.0

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.recv()) is not None:
            # Delay from arrival, so back-to-back chunks are not delayed cumulatively.
            wait = self._delay_s() - (time.monotonic() - chunk.at)
            if wait > 0:
                await stub.hold(chunk, wait)
            stub.send(Chunk(chunk.data, chunk.at + max(wait, 0.0)))
        stub.close()
