"""slow_close: when the source closes, the close is passed on only after ``delay`` ms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ._base import ToxicStub


@dataclass(frozen=True)
class SlowClose:
    delay: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.recv()) is not None:
            stub.send(chunk)
        await asyncio.sleep(self.delay / 1000.0)
        stub.close()
