"""bandwidth: data passes at ``rate`` KB/s at most (large chunks go out in 100 ms slices)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ._base import Chunk, ToxicStub

_SLICE_S = 0.1


@dataclass(frozen=True)
class Bandwidth:
    rate: int = 0

    async def pipe(self, stub: ToxicStub) -> None:
        debt_s = 0.0  # time owed for bytes already sent, carried so rounding does not add up
        while (chunk := await stub.recv()) is not None:
            if self.rate <= 0:
                stub.send(chunk)
                continue
            debt_s += len(chunk.data) / (self.rate * 1000.0)
            data, per_slice = chunk.data, self.rate * 100
            while len(data) > per_slice:
                await stub.hold(Chunk(data, chunk.at), _SLICE_S)
                stub.send(Chunk(data[:per_slice], chunk.at))
                data = data[per_slice:]
                debt_s -= _SLICE_S
            started = time.monotonic()
            if debt_s > 0:
                await stub.hold(Chunk(data, chunk.at), debt_s)
            debt_s -= time.monotonic() - started
            stub.send(Chunk(data, chunk.at))
        stub.close()
