"""timeout: no data gets through; the connection closes after ``timeout`` ms.

With ``timeout`` 0 the connection never closes by itself: data is dropped until the toxic is
removed, and removing it closes the connection (Toxiproxy's cleanup behaviour).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ._base import ToxicStub


@dataclass(frozen=True)
class Timeout:
    timeout: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        if self.timeout <= 0:
            await _drop_forever(stub)
            return
        try:
            async with asyncio.timeout(self.timeout / 1000.0):
                await _drop_forever(stub)
        except TimeoutError:
            stub.close()

    def cleanup(self, stub: ToxicStub) -> None:
        stub.close()


async def _drop_forever(stub: ToxicStub) -> None:
    # End-of-stream is dropped too: the connection stays open until the toxic acts.
    while await stub.recv() is not None:
        pass
    await asyncio.get_running_loop().create_future()  # never resolves; ends by cancellation
