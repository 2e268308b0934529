"""One direction of one proxied connection: source socket -> toxic chain -> destination socket.

A :class:`Link` owns one :class:`Stage` per toxic of its direction, in the order the toxics were
added. Data enters at stage 0 and leaves the last stage into the destination transport. With no
active stage the link writes straight through (the hot path: no allocation, no task switch).

Contracts:
- A stage whose toxic lost its toxicity roll is a pass-through; it has no task.
- Adding a toxic appends a stage to every live link of its direction; removing one cancels its
  task and forwards, in order, what it held and what was queued to it (nothing is dropped),
  after running the toxic's ``cleanup`` if it has one. Updating re-runs the toxic with its new
  attributes and re-rolls its toxicity; what it held is forwarded first.
- End-of-stream travels through the chain like data; when it leaves the last stage the link is
  finished and the connection closes both sockets (as Toxiproxy does: no half-close).
- Reading from the source pauses while more than ``HIGH_WATER`` bytes wait in stage queues.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Literal, Protocol

from .toxics import Chunk, CleanupToxic, Toxic

Direction = Literal["upstream", "downstream"]
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024

_log = logging.getLogger(__name__)


class ToxicEntry:
    """A toxic as configured on a proxy (mutable: the API updates attributes and toxicity)."""

    __slots__ = ("name", "stream", "toxic", "toxicity", "type")

    def __init__(self, name: str, type_: str, stream: Direction, toxicity: float, toxic: Toxic):
        self.name = name
        self.type = type_
        self.stream: Direction = stream
        self.toxicity = toxicity
        self.toxic = toxic


class LinkOwner(Protocol):
    """What a link needs from its connection."""

    def link_finished(self, link: Link) -> None: ...

    def reset(self) -> None: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...


class Stage:
    """A toxic's place in one link: its input queue, its task, and its state."""

    def __init__(self, link: Link, entry: ToxicEntry) -> None:
        self.link = link
        self.entry = entry
        self.queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
        self.state: dict[str, int] = {}
        self.held: Chunk | None = None
        self.eof = False
        self.closed = False
        self.active = False
        self.generation = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """(Re)run the toxic after a fresh toxicity roll."""
        self.active = random.random() < self.entry.toxicity
        if not self.active:
            self.flush(queued=True)
            return
        view = _StubView(self, self.generation)
        self.task = asyncio.get_running_loop().create_task(self._run(view))

    async def _run(self, view: _StubView) -> None:
        try:
            await self.entry.toxic.pipe(view)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("toxic %s failed; closing its connection", self.entry.name)
            view.close()

    def interrupt(self) -> None:
        """Stop the running toxic; later calls through its old stub are ignored."""
        self.generation += 1
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def put(self, item: Chunk | None) -> None:
        self.queue.put_nowait(item)
        if item is not None:
            self.link.queued_changed(len(item.data))

    async def recv(self) -> Chunk | None:
        if self.eof and self.queue.empty():
            return None
        item = await self.queue.get()
        if item is None:
            self.eof = True
        else:
            self.link.queued_changed(-len(item.data))
        return item

    def flush(self, *, queued: bool) -> None:
        """Forward the held chunk; with ``queued`` also the queue and a pending end-of-stream."""
        if self.closed:
            return
        held, self.held = self.held, None
        if held is not None:
            self.link.deliver_after(self, held)
        while queued and not self.queue.empty():
            item = self.queue.get_nowait()
            if item is None:
                self.eof = True
                break
            self.link.queued_changed(-len(item.data))
            self.link.deliver_after(self, item)
        if queued and self.eof:
            self.closed = True
            self.link.deliver_after(self, None)

    def finish(self) -> None:
        """The toxic closed its stream: end-of-stream goes on, later input is dropped."""
        if self.closed:
            return
        self.closed = True
        self.held = None
        dropped = 0
        while not self.queue.empty():
            item = self.queue.get_nowait()
            dropped += len(item.data) if item is not None else 0
        self.link.queued_changed(-dropped)
        self.link.deliver_after(self, None)


class _StubView:
    """The :class:`~harness.net.toxics.ToxicStub` one run of a toxic sees."""

    __slots__ = ("_generation", "_stage")

    def __init__(self, stage: Stage, generation: int) -> None:
        self._stage = stage
        self._generation = generation

    @property
    def state(self) -> dict[str, int]:
        return self._stage.state

    def _current(self) -> bool:
        return self._generation == self._stage.generation and not self._stage.closed

    async def recv(self) -> Chunk | None:
        return await self._stage.recv()

    def send(self, chunk: Chunk) -> None:
        if self._current():
            self._stage.link.deliver_after(self._stage, chunk)

    async def hold(self, pending: Chunk, seconds: float) -> None:
        self._stage.held = pending
        await asyncio.sleep(seconds)
        if self._current():
            self._stage.held = None

    def close(self) -> None:
        if self._current():
            self._stage.finish()

    def reset(self) -> None:
        if self._current():
            self._stage.link.owner.reset()


class Link:
    """Bytes of one direction: ``feed()`` from the source, written to ``dest``."""

    def __init__(
        self,
        owner: LinkOwner,
        direction: Direction,
        dest: Writer,
        pause_source: Callable[[bool], None],
    ) -> None:
        self.owner = owner
        self.direction: Direction = direction
        self.dest = dest
        self.stages: list[Stage] = []
        self._pause_source = pause_source
        self._queued = 0
        self._paused = False
        self._eof_fed = False
        self.finished = False

    # -- data path ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if not self.stages:
            self.dest.write(data)
        else:
            self.deliver(0, Chunk(data, time.monotonic()))

    def feed_eof(self) -> None:
        if not self._eof_fed:
            self._eof_fed = True
            self.deliver(0, None)

    def deliver_after(self, stage: Stage, item: Chunk | None) -> None:
        try:
            index = self.stages.index(stage) + 1
        except ValueError:  # removed meanwhile: its successor now sits at its old place
            return
        self.deliver(index, item)

    def deliver(self, index: int, item: Chunk | None) -> None:
        stages = self.stages
        while index < len(stages):
            stage = stages[index]
            if stage.closed:
                return
            if stage.active:
                stage.put(item)
                return
            index += 1
        if item is None:
            if not self.finished:
                self.finished = True
                self.owner.link_finished(self)
        elif not self.finished:
            self.dest.write(item.data)

    def queued_changed(self, delta: int) -> None:
        self._queued += delta
        if not self._paused and self._queued > HIGH_WATER:
            self._paused = True
            self._pause_source(True)
        elif self._paused and self._queued < LOW_WATER:
            self._paused = False
            self._pause_source(False)

    # -- toxics on a live link -------------------------------------------------------------------
    def add_toxic(self, entry: ToxicEntry) -> None:
        stage = Stage(self, entry)
        self.stages.append(stage)
        stage.start()

    def update_toxic(self, entry: ToxicEntry) -> None:
        stage = self._stage_of(entry)
        if stage is None or stage.closed:
            return
        stage.interrupt()
        stage.flush(queued=False)
        stage.start()

    def remove_toxic(self, entry: ToxicEntry) -> None:
        stage = self._stage_of(entry)
        if stage is None:
            return
        stage.interrupt()
        if stage.active and isinstance(entry.toxic, CleanupToxic):
            entry.toxic.cleanup(_StubView(stage, stage.generation))
        stage.flush(queued=True)
        if stage in self.stages:
            self.stages.remove(stage)

    def stop(self) -> None:
        """Cancel every toxic task (the connection is closing)."""
        for stage in self.stages:
            stage.interrupt()

    def _stage_of(self, entry: ToxicEntry) -> Stage | None:
        return next((stage for stage in self.stages if stage.entry is entry), None)
