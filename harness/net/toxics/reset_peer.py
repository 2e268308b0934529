"""reset_peer: on the first data in its direction, wait ``timeout`` ms, then reset (TCP RST).

As in Toxiproxy, the data that triggered it is dropped and the reset is a close with SO_LINGER 0,
so both peers see ECONNRESET rather than a clean end-of-stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ._base import ToxicStub


@dataclass(frozen=True)
class ResetPeer:
    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        await stub.recv()
        if self.timeout > 0:
            await asyncio.sleep(self.timeout / 1000.0)
        stub.reset()
