"""What a toxic is, and what it may do to the bytes of one direction of one connection.

A toxic is a frozen dataclass whose int fields are its attributes (its API schema, as in
Toxiproxy's JSON ``"attributes"``) and which implements one method, :meth:`Toxic.pipe`. The proxy
runs ``pipe`` once per connection and direction it applies to, with a :class:`ToxicStub` that
connects it to the previous and next toxic in the chain. ``pipe`` returns or is cancelled when the
toxic is removed or updated; the stub then forwards any data the toxic was holding, so a toxic never
drops data on the floor unless dropping is its job (``timeout``, ``limit_data``).

Optional ability: :class:`CleanupToxic` (``cleanup`` runs when the toxic is removed from a live
connection; ``timeout`` uses it to close the connection, as Toxiproxy does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable


class Chunk(NamedTuple):
    """Bytes read from one side, with the monotonic time (s) they reached the proxy."""

    data: bytes
    at: float


class ToxicStub(Protocol):
    """One toxic's place in one direction of one connection."""

    @property
    def state(self) -> dict[str, int]:
        """Survives updates of the toxic on this connection (``limit_data`` counts bytes here)."""
        ...

    async def recv(self) -> Chunk | None:
        """The next chunk from the previous toxic; ``None`` once the source has closed."""
        ...

    def send(self, chunk: Chunk) -> None:
        """Pass a chunk on to the next toxic (or the destination socket)."""
        ...

    async def hold(self, pending: Chunk, seconds: float) -> None:
        """Sleep holding ``pending``; it is forwarded if the toxic is removed meanwhile."""
        ...

    def close(self) -> None:
        """End this direction: later toxics see end-of-stream, then the connection closes."""
        ...

    def reset(self) -> None:
        """Reset the connection now: both sockets close with SO_LINGER 0 (TCP RST)."""
        ...


class Toxic(Protocol):
    """A network condition applied to one direction of each connection of a proxy."""

    async def pipe(self, stub: ToxicStub) -> None:
        """Move data from ``stub.recv()`` to ``stub.send()``; return when done with the stream."""
        ...


@runtime_checkable
class CleanupToxic(Protocol):
    """A toxic that acts when it is removed from a live connection."""

    def cleanup(self, stub: ToxicStub) -> None: ...


class AttributeError400(ValueError):
    """An attribute has the wrong JSON type (the API answers 400 bad request body)."""


def attributes_of(toxic: object) -> dict[str, Any]:
    """The toxic's attributes as Toxiproxy shows them (every field, defaults included)."""
    return dataclasses.asdict(toxic)  # type: ignore[call-overload]


def with_attributes(base: Any, given: Mapping[str, Any]) -> Any:
    """``base`` with the known fields of ``given`` replaced; unknown keys are ignored (as in Go).

    Raises :class:`AttributeError400` when a known field is not a JSON integer.
    """
    changes: dict[str, int] = {}
    for field in dataclasses.fields(base):
        if field.name not in given:
            continue
        value = given[field.name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise AttributeError400(
                f"json: cannot unmarshal {type(value).__name__} {value!r} into "
                f"attribute {field.name!r} (an integer)"
            )
        changes[field.name] = value
    return dataclasses.replace(base, **changes)
