"""The embedded server's state: proxies by name, with Toxiproxy's rules for each operation.

Every mutating operation runs under one asyncio lock, so API calls apply one at a time, in order.
Inputs arrive already decoded into Python values; type errors are the API layer's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from . import _apierror as errors
from ._link import Direction, ToxicEntry
from ._proxy import Proxy
from .toxics import TOXICS, AttributeError400, attributes_of, with_attributes


@dataclass(frozen=True)
class ProxySpec:
    name: str
    listen: str
    upstream: str
    enabled: bool


def toxic_json(entry: ToxicEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "type": entry.type,
        "stream": entry.stream,
        # Toxiproxy's float32 prints whole numbers without a fraction: 1, not 1.0.
        "toxicity": int(entry.toxicity) if entry.toxicity.is_integer() else entry.toxicity,
        "attributes": attributes_of(entry.toxic),
    }


def proxy_json(proxy: Proxy) -> dict[str, Any]:
    return {
        "name": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
        "toxics": [toxic_json(entry) for entry in proxy.toxics()],
    }


class ProxyCollection:
    def __init__(self) -> None:
        self._proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def all(self) -> dict[str, Proxy]:
        return dict(self._proxies)

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    async def add(self, spec: ProxySpec) -> Proxy:
        if spec.name in self._proxies:
            raise errors.PROXY_EXISTS
        proxy = Proxy(spec.name, spec.listen, spec.upstream)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def add_or_replace(self, spec: ProxySpec) -> Proxy:
        existing = self._proxies.get(spec.name)
        if existing is not None:
            if existing.listen == spec.listen and existing.upstream == spec.upstream:
                return existing
            existing.stop()
            del self._proxies[spec.name]
        return await self.add(spec)

    async def populate(self, specs: list[ProxySpec]) -> tuple[list[Proxy], errors.ApiError | None]:
        done: list[Proxy] = []
        for spec in specs:
            try:
                done.append(await self.add_or_replace(spec))
            except errors.ApiError as exc:
                return done, exc
        return done, None

    def remove(self, name: str) -> None:
        self.get(name).stop()
        del self._proxies[name]

    async def reset(self) -> None:
        for proxy in self._proxies.values():
            await proxy.start()
            proxy.reset_toxics()

    def stop_all(self) -> None:
        for proxy in self._proxies.values():
            proxy.stop()

    # -- toxics ---------------------------------------------------------------------------------
    @staticmethod
    def add_toxic(proxy: Proxy, body: Mapping[str, Any]) -> ToxicEntry:
        """Toxiproxy's checks, in its order: stream, type, name taken, attribute types."""
        stream = str(body.get("stream") or "downstream").lower()
        if stream not in ("upstream", "downstream"):
            raise errors.INVALID_STREAM
        type_ = body.get("type")
        name = body.get("name") or f"{type_}_{stream}"
        if not isinstance(type_, str) or type_ not in TOXICS:
            raise errors.INVALID_TOXIC_TYPE
        if proxy.find_toxic(name) is not None:
            raise errors.TOXIC_EXISTS
        toxic = _toxic_with(TOXICS[type_](), body.get("attributes"))
        toxicity = _toxicity(body.get("toxicity", 1.0))
        entry = ToxicEntry(name, type_, cast(Direction, stream), toxicity, toxic)
        proxy.add_toxic(entry)
        return entry

    @staticmethod
    def update_toxic(proxy: Proxy, name: str, body: Mapping[str, Any]) -> ToxicEntry:
        """Attributes given are merged into the toxic's; toxicity changes only when given."""
        entry = proxy.find_toxic(name)
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        toxic = _toxic_with(entry.toxic, body.get("attributes"))
        toxicity = _toxicity(body.get("toxicity", entry.toxicity))
        entry.toxic, entry.toxicity = toxic, toxicity
        proxy.toxic_updated(entry)
        return entry


def _toxic_with(base: Any, attributes: object) -> Any:
    if attributes is None:
        return base
    if not isinstance(attributes, Mapping):
        raise errors.bad_body("attributes must be a JSON object")
    try:
        return with_attributes(base, attributes)
    except AttributeError400 as exc:
        raise errors.bad_body(str(exc)) from exc


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.bad_body(f"toxicity must be a number, got {value!r}")
    return float(value)
