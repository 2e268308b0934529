"""slicer: chunks are cut into slices of about ``average_size`` +/- ``size_variation`` bytes,
sent ``delay`` microseconds apart."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from ._base import Chunk, ToxicStub


@dataclass(frozen=True)
class Slicer:
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def cuts(self, start: int, end: int) -> list[int]:
        """Slice boundaries of ``[start, end)``, split near the middle so sizes vary evenly."""
        if (end - start) - self.average_size <= self.size_variation:
            return [start, end]
        variation = max(self.size_variation, 0)
        mid = start + (end - start) // 2 + random.randint(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        return [*self.cuts(start, mid), *self.cuts(mid, end)[1:]]

    async def pipe(self, stub: ToxicStub) -> None:
        while (chunk := await stub.recv()) is not None:
            if self.average_size <= 0:
                stub.send(chunk)
                continue
            bounds = self.cuts(0, len(chunk.data))
            for lo, hi in itertools.pairwise(bounds):
                stub.send(Chunk(chunk.data[lo:hi], chunk.at))
                if hi < len(chunk.data):
                    await stub.hold(Chunk(chunk.data[hi:], chunk.at), self.delay / 1e6)
        stub.close()
