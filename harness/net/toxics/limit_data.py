"""limit_data: the first ``bytes`` bytes of the direction get through, then the connection closes.

The count survives updates of the toxic (it lives in the stub's state), as in Toxiproxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import Chunk, ToxicStub


@dataclass(frozen=True)
class LimitData:
    bytes: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        sent = stub.state.setdefault("transmitted", 0)
        while sent < self.bytes and (chunk := await stub.recv()) is not None:
            data = chunk.data[: self.bytes - sent]
            if data:
                stub.send(Chunk(data, chunk.at))
                sent += len(data)
                stub.state["transmitted"] = sent
        stub.close()
